package export

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

// synthCategory describes how to make items of one category for tests.
type synthCategory struct {
	cat    dossier.Category
	prefix string // marker prefix: every item carries a unique "[XX00000]" marker
	cols   []string
	share  int // relative number of items
	cells  func(r *rand.Rand) []string
}

var (
	clinicians = []string{"dr. Zoë Ødegård-Brontë", "dr. José Gonçalves", "Anaïs Müller", "Søren Kierkegård",
		"dr. Chloë de Vries", "Noël Hüsken", "Loïs van der Ëijk", "Ángel Peña", "dr. A. Jansen"}
	conditions = []string{"Diabetes mellitus type 2", "Hypertensie", "Astma", "COPD", "Migraine",
		"Artrose van de knie", "Hypothyreoïdie", "Depressieve stoornis", "Atriumfibrilleren", "Coeliakie"}
	substances = []string{"Penicilline", "Pinda", "Huisstofmijt", "Ibuprofen", "Latex", "Noten", "Wespengif"}
	drugs      = []string{"Metformine 500 mg tablet", "Lisinopril 10 mg", "Salbutamol inhalator", "Omeprazol 20 mg",
		"Levothyroxine 50 µg", "Paracetamol 500 mg", "Atorvastatine 40 mg"}
	labs = []string{"Hemoglobine", "Glucose nuchter", "HbA1c", "Kreatinine", "eGFR", "Cholesterol totaal",
		"Bloeddruk systolisch", "Lichaamsgewicht", "Hartfrequentie"}
	vaccines = []string{"BMR", "DKTP", "Influenza", "COVID-19 Comirnaty", "HPV", "Hepatitis B", "Pneumokokken"}
	places   = []string{"Ziekenhuis Rijnstate, Arnhem", "UMC Utrecht", "Huisartsenpraktijk De Linde",
		"Maasstad Ziekenhuis", "Isala Zwolle", "Jeroen Bosch Ziekenhuis"}
	words = strings.Fields("de het een patiënt klachten sinds controle afgesproken medicatie aangepast " +
		"uitslag normaal verwijzing cardioloog geen bijzonderheden beleid vervolg echo röntgenfoto " +
		"gesprek naïef coördinatie reëel overleg met huisarts over pijnbestrijding en leefstijl")
)

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func date(r *rand.Rand) string {
	return fmt.Sprintf("%02d-%02d-%d", 1+r.IntN(28), 1+r.IntN(12), 1990+r.IntN(36))
}

// prose makes n words of Dutch-looking text; sometimes with a long unbroken token.
func prose(r *rand.Rand, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = pick(r, words)
	}
	if n > 40 && r.IntN(3) == 0 {
		ws[n/2] = "https://voorbeeld.nl/dossier/verslag/" + strings.Repeat("abcdef0123", 8)
	}
	return strings.Join(ws, " ")
}

func note(r *rand.Rand) string {
	switch r.IntN(20) {
	case 0:
		return prose(r, 150+r.IntN(300)) // long: wraps and continues on continuation rows
	case 1, 2, 3:
		return prose(r, 20+r.IntN(40))
	}
	return prose(r, 3+r.IntN(8))
}

var synthCategories = []synthCategory{
	{dossier.CatPatient, "PG", []string{"Gegeven", "Waarde"}, 1, func(r *rand.Rand) []string {
		return []string{pick(r, []string{"Adres", "Telefoon", "Huisarts", "Contactpersoon", "Zorgverzekeraar"}), pick(r, clinicians)}
	}},
	{dossier.CatProblems, "PR", []string{"Probleem", "Status", "Begindatum", "Toelichting"}, 6, func(r *rand.Rand) []string {
		return []string{pick(r, conditions), pick(r, []string{"actueel", "niet actueel"}), date(r), note(r)}
	}},
	{dossier.CatAllergies, "AL", []string{"Stof", "Reactie", "Ernst", "Vastgesteld"}, 3, func(r *rand.Rand) []string {
		return []string{pick(r, substances), pick(r, []string{"huiduitslag", "benauwdheid", "zwelling", "jeuk"}),
			pick(r, []string{"licht", "matig", "ernstig"}), date(r)}
	}},
	{dossier.CatMedication, "ME", []string{"Geneesmiddel", "Dosering", "Start", "Voorschrijver"}, 8, func(r *rand.Rand) []string {
		return []string{pick(r, drugs), fmt.Sprintf("%d maal daags %d stuk", 1+r.IntN(3), 1+r.IntN(2)), date(r), pick(r, clinicians)}
	}},
	{dossier.CatResults, "UI", []string{"Onderzoek", "Uitslag", "Eenheid", "Referentie", "Datum"}, 30, func(r *rand.Rand) []string {
		return []string{pick(r, labs), fmt.Sprintf("%d,%d", r.IntN(200), r.IntN(10)), pick(r, []string{"mmol/L", "g/dL", "mmHg", "kg", "/min"}),
			fmt.Sprintf("%d - %d", r.IntN(10), 10+r.IntN(100)), date(r)}
	}},
	{dossier.CatImmunization, "VA", []string{"Vaccin", "Datum", "Dosis", "Toediener"}, 4, func(r *rand.Rand) []string {
		return []string{pick(r, vaccines), date(r), fmt.Sprintf("dosis %d", 1+r.IntN(3)), pick(r, clinicians)}
	}},
	{dossier.CatProcedures, "VE", []string{"Verrichting", "Datum", "Locatie", "Uitvoerder"}, 4, func(r *rand.Rand) []string {
		return []string{pick(r, []string{"Appendectomie", "Colonoscopie", "Knie-artroscopie", "Cataractoperatie"}), date(r), pick(r, places), pick(r, clinicians)}
	}},
	{dossier.CatEncounters, "CO", []string{"Contact", "Datum", "Afdeling", "Zorgverlener", "Reden"}, 10, func(r *rand.Rand) []string {
		return []string{pick(r, []string{"Polikliniek", "Opname", "Spoedeisende hulp", "Huisartsconsult"}), date(r), pick(r, places), pick(r, clinicians), note(r)}
	}},
	{dossier.CatDocuments, "DO", []string{"Titel", "Soort", "Datum"}, 2, func(r *rand.Rand) []string {
		return []string{pick(r, []string{"Ontslagbrief", "Verwijsbrief", "Labuitslag", "Operatieverslag"}), "application/pdf", date(r)}
	}},
	{dossier.CatOther, "OV", []string{"Resourcetype", "Omschrijving"}, 1, func(r *rand.Rand) []string {
		return []string{pick(r, []string{"Flag", "CarePlan", "Goal"}), note(r)}
	}},
}

// synthSummary builds a deterministic dossier of about n items, with the
// categories in unselected left out of the sections.
func synthSummary(n int, seed uint64, unselected ...dossier.Category) dossier.Summary {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	shares := 0
	for _, c := range synthCategories {
		shares += c.share
	}
	s := dossier.Summary{Patient: dossier.Patient{Name: "Zoë Ødegård-Brontë", BirthDate: "1958-03-07",
		Gender: "vrouw", BSN: "afgeschermd"}}
	skip := map[dossier.Category]bool{}
	for _, c := range unselected {
		skip[c] = true
	}
	for _, c := range synthCategories {
		if skip[c.cat] {
			s.Unselected = append(s.Unselected, c.cat)
			continue
		}
		sec := dossier.Section{Category: c.cat, Columns: slices.Clone(c.cols)}
		for i := range max(1, n*c.share/shares) {
			cells := c.cells(r)
			cells[0] = fmt.Sprintf("%s [%s%05d]", cells[0], c.prefix, i)
			sec.Items = append(sec.Items, dossier.Item{ID: fmt.Sprintf("X/%s%d", c.prefix, i), Cells: cells})
		}
		s.Sections = append(s.Sections, sec)
	}
	if !skip[dossier.CatDocuments] {
		for i := range 12 {
			s.Documents = append(s.Documents, dossier.Document{Title: fmt.Sprintf("Ontslagbrief cardiologie %d [DL%05d]", i, i),
				ContentType: "application/pdf", Size: int64(20000 + 7919*i), Created: time.Date(2024, 5, 1+i, 10, 0, 0, 0, time.UTC)})
		}
	}
	return s
}

package dossier

// Vocabulary of the synthetic dossiers: Dutch names (with accents), places, and the
// codes a huisarts or hospital record holds (SNOMED CT, LOINC, ATC), with Dutch
// displays. Invented people; real code systems.

var givenFemale = []string{"Anaïs", "Zoë", "Chloë", "Désirée", "Hélène", "Inès", "Joëlle", "Sanne", "Femke",
	"Noor", "Lotte", "Eefje", "Maaike", "Renée", "Loïs", "Aïsha", "Fleur", "Marieke", "Sélin", "Ilse"}

var givenMale = []string{"René", "André", "Noël", "Maël", "Thijs", "Daan", "Bram", "IJsbrand", "Jeroen",
	"Sjoerd", "Gerrit", "Mohammed", "Cor", "Kees", "Joël", "Ruud", "Teun", "Wouter", "Ömer", "Niels"}

var familyPrefixes = []string{"", "", "", "van", "de", "van der", "van den", "ter", "van 't"}

var familyNames = []string{"Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Groot", "Bos", "Vos",
	"Peters", "Hendriks", "Dekker", "Brouwer", "Çelik", "Yılmaz", "El Idrissi", "Hoekstra", "Kuipers",
	"Wijnand", "Dijkstra", "Hoëvenaars", "Brink", "Sluijs", "Veen", "Berg"}

var cities = []struct{ city, street, postal string }{
	{"Groningen", "Oosterstraat", "9711NS"}, {"Leeuwarden", "Nieuwestad", "8911CN"}, {"Zwolle", "Diezerstraat", "8011RJ"},
	{"Utrecht", "Oudegracht", "3511AN"}, {"Den Haag", "Laan van Meerdervoort", "2517AB"},
	{"'s-Hertogenbosch", "Hinthamerstraat", "5211MG"}, {"Roermond", "Steenweg", "6041EB"}, {"Enschede", "Haaksbergerstraat", "7513EB"},
}

type code struct{ system, code, display string }

const (
	snomed = "http://snomed.info/sct"
	loinc  = "http://loinc.org"
	atc    = "http://www.whocc.no/atc"
	ucum   = "http://unitsofmeasure.org"
)

var diagnoses = []code{
	{snomed, "44054006", "Diabetes mellitus type 2"}, {snomed, "38341003", "Hypertensie"},
	{snomed, "195967001", "Astma"}, {snomed, "13645005", "COPD"}, {snomed, "49436004", "Atriumfibrilleren"},
	{snomed, "53741008", "Coronaire hartziekte"}, {snomed, "35489007", "Depressie"},
	{snomed, "69896004", "Reumatoïde artritis"}, {snomed, "396275006", "Artrose van de knie"},
	{snomed, "84114007", "Hartfalen"}, {snomed, "709044004", "Chronische nierschade"},
	{snomed, "40930008", "Hypothyreoïdie"}, {snomed, "37796009", "Migraine"}, {snomed, "64859006", "Osteoporose"},
	{snomed, "235595009", "Gastro-oesofageale refluxziekte"}, {snomed, "427099000", "Actieve ziekte van Crohn"},
	{snomed, "230690007", "Cerebrovasculair accident"}, {snomed, "399211009", "Doorgemaakt myocardinfarct"},
}

var medicines = []struct {
	code
	dose string
}{
	{code{atc, "A10BA02", "Metformine 500 mg tablet"}, "2 keer per dag 1 tablet"},
	{code{atc, "C09AA03", "Lisinopril 10 mg tablet"}, "1 keer per dag 1 tablet"},
	{code{atc, "C10AA05", "Atorvastatine 20 mg tablet"}, "1 keer per dag 1 tablet, 's avonds"},
	{code{atc, "B01AC06", "Acetylsalicylzuur 80 mg dispertablet"}, "1 keer per dag 1 tablet"},
	{code{atc, "R03AC02", "Salbutamol 100 µg/dosis aerosol"}, "zo nodig 2 inhalaties, maximaal 8 per dag"},
	{code{atc, "N02BE01", "Paracetamol 500 mg tablet"}, "zo nodig 3 keer per dag 2 tabletten"},
	{code{atc, "C07AB02", "Metoprolol 50 mg tablet met gereguleerde afgifte"}, "1 keer per dag 1 tablet"},
	{code{atc, "H03AA01", "Levothyroxine 50 µg tablet"}, "1 keer per dag 1 tablet, nuchter"},
	{code{atc, "A02BC01", "Omeprazol 20 mg capsule"}, "1 keer per dag 1 capsule"},
	{code{atc, "N06AB06", "Sertraline 50 mg tablet"}, "1 keer per dag 1 tablet"},
	{code{atc, "C03CA01", "Furosemide 40 mg tablet"}, "1 keer per dag 1 tablet, 's ochtends"},
	{code{atc, "B01AF01", "Rivaroxaban 20 mg tablet"}, "1 keer per dag 1 tablet bij de maaltijd"},
}

type labTest struct {
	code
	unit     string
	low, hi  float64
	decimals int
}

var labTests = []labTest{
	{code{loinc, "59260-0", "Hemoglobine [mol/volume] in bloed"}, "mmol/L", 7.5, 10.0, 1},
	{code{loinc, "14749-6", "Glucose [mol/volume] in serum of plasma"}, "mmol/L", 4.0, 7.8, 1},
	{code{loinc, "59261-8", "HbA1c in bloed"}, "mmol/mol", 20, 42, 0},
	{code{loinc, "14682-9", "Kreatinine [mol/volume] in serum of plasma"}, "µmol/L", 60, 110, 0},
	{code{loinc, "14647-2", "Cholesterol [mol/volume] in serum of plasma"}, "mmol/L", 3.5, 6.5, 1},
	{code{loinc, "2823-3", "Kalium [mol/volume] in serum of plasma"}, "mmol/L", 3.5, 5.0, 1},
	{code{loinc, "2951-2", "Natrium [mol/volume] in serum of plasma"}, "mmol/L", 135, 145, 0},
	{code{loinc, "1988-5", "C-reactief proteïne [massa/volume] in serum of plasma"}, "mg/L", 0, 10, 0},
	{code{loinc, "3016-3", "TSH [eenheden/volume] in serum of plasma"}, "mU/L", 0.4, 4.0, 2},
	{code{loinc, "6690-2", "Leukocyten [#/volume] in bloed"}, "10*9/L", 4.0, 10.0, 1},
	{code{loinc, "777-3", "Trombocyten [#/volume] in bloed"}, "10*9/L", 150, 400, 0},
}

var vaccines = []code{
	{atc, "J07BB02", "Influenzavaccin"}, {atc, "J07BN01", "COVID-19-vaccin (mRNA)"},
	{atc, "J07AM51", "Difterie-tetanusvaccin"}, {atc, "J07BC01", "Hepatitis B-vaccin"},
	{atc, "J07AL02", "Pneumokokkenvaccin (geconjugeerd)"}, {atc, "J07BM01", "HPV-vaccin"},
}

var procedures = []code{
	{snomed, "80146002", "Appendectomie"}, {snomed, "609588000", "Totale knieprothese"},
	{snomed, "73761001", "Coloscopie"}, {snomed, "232717009", "Coronaire bypassoperatie"},
	{snomed, "38102005", "Cholecystectomie"}, {snomed, "54885007", "Cataractextractie"},
	{snomed, "71388002", "Verwijdering van moedervlek"},
}

var allergens = []code{
	{snomed, "373270004", "Penicilline"}, {snomed, "256349002", "Pinda-eiwit"}, {snomed, "387207008", "Ibuprofen"},
	{snomed, "111088007", "Latex"}, {snomed, "256259004", "Graspollen"}, {snomed, "387458008", "Acetylsalicylzuur"},
}

var reactions = []code{
	{snomed, "271807003", "Huiduitslag"}, {snomed, "39579001", "Anafylaxie"}, {snomed, "267036007", "Benauwdheid"},
	{snomed, "418290006", "Jeuk"}, {snomed, "422587007", "Misselijkheid"},
}

var encounterTypes = []struct {
	class, classDisplay string
	typ                 code
}{
	{"AMB", "Poliklinisch", code{snomed, "185349003", "Consult huisarts"}},
	{"AMB", "Poliklinisch", code{snomed, "11429006", "Polikliniekbezoek interne geneeskunde"}},
	{"IMP", "Klinisch", code{snomed, "32485007", "Opname ziekenhuis"}},
	{"EMER", "Spoedeisende hulp", code{snomed, "50849002", "Bezoek spoedeisende hulp"}},
}

var organizations = []string{"Huisartsenpraktijk De Linde", "Ziekenhuis Zuiderzee", "Apotheek Het Spaarne",
	"Laboratorium Noord-Nederland", "GGD Fryslân", "Medisch Centrum Ruïnekerk"}

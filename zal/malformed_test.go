package zal

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
)

// badCase is one malformed list and the exact message it must be rejected with.
type badCase struct {
	name string
	data []byte
	want string
	code string // pgo code; EINVALID when empty
}

// rep replaces the first old in base by new and fails loudly when old is absent,
// so a fixture change cannot silently turn a case into a valid document.
func rep(base []byte, old, new string) []byte {
	if !bytes.Contains(base, []byte(old)) {
		panic(fmt.Sprintf("fixture does not contain %q", old))
	}
	return bytes.Replace(base, []byte(old), []byte(new), 1)
}

// commonCases are the malformations every list must reject. All fixtures share
// their first four lines: declaration, root, Tijdstempel, Volgnummer.
func commonCases(base []byte, root, ns, vn string) []badCase {
	vnEl := "<Volgnummer>" + vn + "</Volgnummer>"
	rootOpen := "<" + root + ` xmlns="` + ns + `">`
	nsOther := strings.Replace(ns, "/release", "/release9", 1)
	nsList := strings.Join(rootNames[root].ns, " or ")
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
` + rootOpen + "<Tijdstempel>&lol2;</Tijdstempel></" + root + ">"
	xxe := `<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
` + rootOpen + "<Tijdstempel>&xxe;</Tijdstempel></" + root + ">"
	return []badCase{
		{"wrong namespace", rep(base, ns, nsOther), fmt.Sprintf("line 2: <%s>: wrong namespace %q (expected %s)", root, nsOther, nsList), ""},
		{"http instead of xmlns scheme", rep(base, ns, strings.Replace(ns, "xmlns://", "http://", 1)),
			fmt.Sprintf("line 2: <%s>: wrong namespace %q (expected %s)", root, strings.Replace(ns, "xmlns://", "http://", 1), nsList), ""},
		{"no namespace", rep(base, ` xmlns="`+ns+`"`, ""), fmt.Sprintf("line 2: <%s>: missing default namespace (xmlns)", root), ""},
		{"prefixed root", rep(rep(base, rootOpen, "<m:"+root+` xmlns:m="`+ns+`">`), "</"+root+">", "</m:"+root+">"),
			fmt.Sprintf("line 2: <m:%s>: prefixed element names are not allowed (one default namespace)", root), ""},
		{"missing Volgnummer", rep(base, vnEl, ""), fmt.Sprintf("line 5: <Volgnummer>: required element is missing in <%s> (found <%s> instead)", root, secondLevel[root]), ""},
		{"Volgnummer zero", rep(base, vnEl, "<Volgnummer>0</Volgnummer>"), `line 4: <Volgnummer>: "0" is not a positive integer (must be at least 1)`, ""},
		{"Volgnummer not a number", rep(base, vnEl, "<Volgnummer>12a</Volgnummer>"), `line 4: <Volgnummer>: "12a" is not a positive integer`, ""},
		{"Volgnummer negative", rep(base, vnEl, "<Volgnummer>-3</Volgnummer>"), `line 4: <Volgnummer>: "-3" is not a positive integer`, ""},
		{"Volgnummer too large", rep(base, vnEl, "<Volgnummer>99999999999999999999</Volgnummer>"), `line 4: <Volgnummer>: "99999999999999999999" is too large`, ""},
		{"Tijdstempel short", rep(base, "2026-11-23T10:00:00Z<", "2026-11-23T10:00:00<"), `line 3: <Tijdstempel>: xs:dateTime "2026-11-23T10:00:00" is shorter than 20 characters`, ""},
		{"Tijdstempel invalid", rep(base, "2026-11-23T10:00:00Z<", "2026-13-23T10:00:00Z<"), `line 3: <Tijdstempel>: "2026-13-23T10:00:00Z" is not an xs:dateTime`, ""},
		{"Volgnummer before Tijdstempel", rep(rep(base, vnEl, "<Tijdstempel>2026-11-23T10:00:00Z</Tijdstempel>"), "<Tijdstempel>2026-11-23T10:00:00Z</Tijdstempel>", vnEl),
			fmt.Sprintf("line 3: <Volgnummer>: element out of order in <%s> (expected <Tijdstempel> here; order: Tijdstempel, Volgnummer, %s)", root, secondLevel[root]), ""},
		{"unknown element", rep(base, vnEl, vnEl+"<Extra>x</Extra>"), fmt.Sprintf("line 4: <Extra>: unknown element in <%s> (allowed: Tijdstempel, Volgnummer, %s)", root, secondLevel[root]), ""},
		{"repeated Volgnummer", rep(base, vnEl, vnEl+vnEl), fmt.Sprintf("line 4: <Volgnummer>: occurs more than 1 time(s) in <%s>", root), ""},
		{"attribute", rep(base, vnEl, `<Volgnummer id="1">`+vn+"</Volgnummer>"), `line 4: <Volgnummer>: attribute "id" is not allowed`, ""},
		{"billion laughs", []byte(laughs), "line 2: DTD or declaration <!DOCTYPE> is not allowed (no DOCTYPE, no entities)", ""},
		{"external entity", []byte(xxe), "line 2: DTD or declaration <!DOCTYPE> is not allowed (no DOCTYPE, no entities)", ""},
		{"undeclared entity", rep(base, vnEl, "<Volgnummer>&xxe;</Volgnummer>"), "line 4: <Volgnummer>: malformed XML: invalid character entity &xxe;", ""},
		{"processing instruction", rep(base, vnEl, vnEl+"<?php echo 1; ?>"), "line 4: processing instruction <?php?> is not allowed", ""},
		{"truncated", truncateAfter(base, "<"+secondLevel[root]+">\n"), fmt.Sprintf("line 6: <%s>: file is truncated: element opened on line 5 is not closed", secondLevel[root]), ""},
		{"truncated in a tag", bytes.Clone(base[:len(base)-5]), fmt.Sprintf("line %d: <%s>: file is truncated: element opened on line 2 is not closed", bytes.Count(base, []byte("\n")), root), ""},
		{"second root", append(bytes.Clone(base), []byte("<"+root+"/>")...), fmt.Sprintf("line %d: <%s>: a second root element is not allowed", bytes.Count(base, []byte("\n"))+1, root), ""},
		{"text after root", append(bytes.Clone(base), []byte("junk")...), fmt.Sprintf("line %d: text outside the root element", bytes.Count(base, []byte("\n"))+1), ""},
		{"latin-1 encoding", rep(base, `encoding="UTF-8"`, `encoding="ISO-8859-1"`), `line 1: encoding "ISO-8859-1" is not allowed: lists are UTF-8`, ""},
		{"empty file", nil, "no root element: the file is empty or not XML", ""},
		{"50 MB", huge(base, vnEl), "list is larger than the limit of 16777216 bytes", pgo.ETOOLARGE},
	}
}

var secondLevel = map[string]string{
	"Zorgaanbiederslijst": "Zorgaanbieders", "OAuthclientlist": "OAuthclients",
	"Gegevensdienstnamenlijst": "Gegevensdiensten", "Whitelist": "MedMijNodes",
}

func truncateAfter(base []byte, marker string) []byte {
	i := bytes.Index(base, []byte(marker))
	if i < 0 {
		panic("no " + marker)
	}
	return bytes.Clone(base[:i+len(marker)])
}

// huge pads base with comments to 50 MB (made here, never committed).
func huge(base []byte, after string) []byte {
	pad := bytes.Repeat([]byte("<!-- padding padding padding padding padding padding -->\n"), 50<<20/58+1)
	return rep(base, after, after+string(pad))
}

func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	if len(cases) < 15 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := Parse(c.data, ParseOptions{})
			if err == nil {
				t.Fatalf("accepted: %T", l)
			}
			want := c.code
			if want == "" {
				want = pgo.EINVALID
			}
			if got := pgo.ErrorCode(err); got != want {
				t.Errorf("code %q, want %q (%v)", got, want, err)
			}
			if got := pgo.ErrorMessage(err); got != c.want {
				t.Errorf("message\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

package server

import (
	"net/http"
	"strings"
	"testing"
)

// recordTB is a testing.TB whose Fatalf only records: to show that the rule
// walkers of the FHIR tests catch what they are there to catch.
type recordTB struct {
	testing.TB
	failed string
}

func (r *recordTB) Fatalf(format string, args ...any) { r.failed = format; panic(r) }
func (r *recordTB) Fatal(args ...any)                 { r.failed = "fatal"; panic(r) }
func (r *recordTB) Helper()                           {}

func fails(t *testing.T, check func(tb testing.TB)) (failed bool) {
	r := &recordTB{TB: t}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
		failed = r.failed != ""
	}()
	check(r)
	return false
}

// The walkers of the FHIR tests fail on each rule they check, and pass a good
// resource.
func TestFHIRWalkersCatchViolations(t *testing.T) {
	good := `{"resourceType":"DocumentReference","id":"d1","meta":{"profile":["p"]},"masterIdentifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:1"},` +
		`"type":{"coding":[{"system":"s","code":"c","display":"d"}]},"subject":{"display":"X"},"author":[{"display":"Y"}]}`
	if fails(t, func(tb testing.TB) { walkRules(tb, []byte(good)) }) {
		t.Fatal("a good resource failed")
	}
	for name, bad := range map[string]string{
		"no profile":            strings.Replace(good, `"meta":{"profile":["p"]},`, ``, 1),
		"coding without system": strings.Replace(good, `"system":"s",`, ``, 1),
		"concept without text":  strings.Replace(good, `,"display":"d"`, ``, 1),
		"reference no display":  strings.Replace(good, `"subject":{"display":"X"}`, `"subject":{"reference":"Patient/1"}`, 1),
		"identifier no system":  strings.Replace(good, `"system":"urn:ietf:rfc:3986",`, ``, 1),
		"fullUrl not the id":    `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"https://x/DocumentReference/d2","resource":` + good + `}]}`,
	} {
		if !fails(t, func(tb testing.TB) { walkRules(tb, []byte(bad)) }) {
			t.Errorf("%s: not caught", name)
		}
	}
	if !fails(t, func(tb testing.TB) { noBSN(tb, []byte(`{"value":"999990019"}`), nil) }) {
		t.Error("a BSN in the body was not caught")
	}
	if !fails(t, func(tb testing.TB) { noBSN(tb, nil, http.Header{"X-Patient": {"999990019"}}) }) {
		t.Error("a BSN in a header was not caught")
	}
	if !fails(t, func(tb testing.TB) {
		sameContent(tb, []byte(`{"resourceType":"Binary","id":"a"}`), []byte(`<Binary xmlns="http://hl7.org/fhir"><id value="b"/></Binary>`))
	}) {
		t.Error("XML that differs from the JSON was not caught")
	}
}

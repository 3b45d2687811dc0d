package zal

import (
	"strings"
	"testing"
)

// The two shapes of a release3 ZAL as MedMij and MinVWS publish them (issue 12):
// xsi attributes on the root, and MaximaleDuur as a whole number of days.
func TestParsePublishedShapes(t *testing.T) {
	z := mustParse[*ZAL](t, fixture(t, "zal3-xsi.xml"))
	if z.Volgnummer != 412 || z.Namespace != NamespaceZAL3 || len(z.Providers) != 1 {
		t.Fatalf("xsi list: Volgnummer %d, namespace %q, %d providers", z.Volgnummer, z.Namespace, len(z.Providers))
	}
	if src := z.Sources("51"); len(src) != 1 || src[0].Resource() != "https://api.oostpgo.example.nl/51/fhir" {
		t.Fatalf("xsi list sources: %+v", src)
	}

	z = mustParse[*ZAL](t, fixture(t, "zal3-days.xml"))
	s := z.Providers[0].Versions[0].Services[0].Subscription
	if s == nil || s.MaxDuration != "90" || s.URI != "https://westlab.example.nl/subscriptions" {
		t.Fatalf("days list subscription: %+v", s)
	}
	// Written back unchanged and parsed again (the generator's round trip).
	again := mustParse[*ZAL](t, MarshalZAL(z))
	if again.Providers[0].Versions[0].Services[0].Subscription.MaxDuration != "90" {
		t.Fatal("MaximaleDuur lost in the round trip")
	}
}

// Everything beyond the two published shapes stays refused with a precise message.
func TestPublishedShapesStayStrict(t *testing.T) {
	xsi := fixture(t, "zal3-xsi.xml")
	days := fixture(t, "zal3-days.xml")
	const bind = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`
	const loc = `xsi:schemaLocation="xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release3/ MedMij_Zorgaanbiederslijst_release3.xsd"`
	cases := []badCase{
		{"xsi bound elsewhere", rep(xsi, bind, `xmlns:xsi="http://example.org/xsi"`),
			`line 2: <Zorgaanbiederslijst>: prefix xsi must be bound to http://www.w3.org/2001/XMLSchema-instance, not "http://example.org/xsi"`, ""},
		{"schemaLocation without xmlns:xsi", rep(xsi, bind, ""),
			"line 2: <Zorgaanbiederslijst>: xsi:schemaLocation uses the prefix xsi without xmlns:xsi", ""},
		{"schemaLocation not pairs", rep(xsi, loc, `xsi:schemaLocation="MedMij_Zorgaanbiederslijst_release3.xsd"`),
			`line 2: <Zorgaanbiederslijst>: xsi:schemaLocation: "MedMij_Zorgaanbiederslijst_release3.xsd" is not a list of namespace and location pairs`, ""},
		{"empty schemaLocation", rep(xsi, loc, `xsi:schemaLocation=" "`),
			`line 2: <Zorgaanbiederslijst>: xsi:schemaLocation: " " is not a list of namespace and location pairs`, ""},
		{"xsi:type on the root", rep(xsi, loc, `xsi:type="Foo"`), `line 2: <Zorgaanbiederslijst>: attribute "xsi:type" is not allowed`, ""},
		{"xsi:nil on an element", rep(xsi, "<Volgnummer>", `<Volgnummer xsi:nil="true">`), `line 4: <Volgnummer>: attribute "xsi:nil" is not allowed`, ""},
		{"schemaLocation below the root", rep(xsi, "<Volgnummer>", `<Volgnummer xsi:schemaLocation="a b">`),
			`line 4: <Volgnummer>: attribute "xsi:schemaLocation" is not allowed`, ""},
		{"xmlns:xsi below the root", rep(xsi, "<Volgnummer>", `<Volgnummer `+bind+`>`),
			"line 4: <Volgnummer>: namespace prefix declaration xmlns:xsi is not allowed (one default namespace)", ""},
		{"other prefix on the root", rep(xsi, bind, bind+` xmlns:m="urn:x"`),
			"line 2: <Zorgaanbiederslijst>: namespace prefix declaration xmlns:m is not allowed (one default namespace)", ""},
		{"xsi element", rep(xsi, "<Volgnummer>412</Volgnummer>", "<Volgnummer>412</Volgnummer><xsi:Extra/>"),
			"line 4: <xsi:Extra>: prefixed element names are not allowed (one default namespace)", ""},
		{"days zero", rep(days, ">90<", ">0<"), `line 22: <MaximaleDuur>: "0" is not a number of days from 1 to 2147483647`, ""},
		{"days too large", rep(days, ">90<", ">99999999999<"), `line 22: <MaximaleDuur>: "99999999999" is not a number of days from 1 to 2147483647`, ""},
		{"days negative", rep(days, ">90<", ">-90<"), `line 22: <MaximaleDuur>: "-90" is neither a number of days nor an xs:duration`, ""},
		{"days with unit", rep(days, ">90<", ">90 dagen<"), `line 22: <MaximaleDuur>: "90 dagen" is neither a number of days nor an xs:duration`, ""},
		{"days as decimal", rep(days, ">90<", ">90.5<"), `line 22: <MaximaleDuur>: "90.5" is neither a number of days nor an xs:duration`, ""},
		{"empty duration", rep(days, ">90<", "><"), `line 22: <MaximaleDuur>: "" is neither a number of days nor an xs:duration`, ""},
		{"bare P", rep(days, ">90<", ">P<"), `line 22: <MaximaleDuur>: "P" is neither a number of days nor an xs:duration`, ""},
		{"missing MaximaleDuur", rep(days, "<MaximaleDuur>90</MaximaleDuur>", ""),
			"line 23: <MaximaleDuur>: required element is missing in <Abonneren> (found <SubscriptionEndpointuri> instead)", ""},
	}
	runBad(t, cases)
	// The accepted forms of an xs:duration still pass beside the days.
	for _, v := range []string{"P30D", "PT12H", "P1Y2M", "1", "365"} {
		if _, err := Parse(rep(days, ">90<", ">"+v+"<"), ParseOptions{}); err != nil {
			t.Errorf("MaximaleDuur %q refused: %v", v, err)
		}
	}
	if !strings.Contains(string(xsi), "xsi:schemaLocation") {
		t.Fatal("fixture lost its xsi:schemaLocation")
	}
}

package zal

import "testing"

func TestMalformedZAL(t *testing.T) {
	base := fixture(t, "zal3.xml")
	cases := append(commonCases(base, "Zorgaanbiederslijst", NamespaceZAL3, "7"),
		badCase{"name pattern upper case", rep(base, "noord@medmij<", "Noord@medmij<"), `line 7: <Zorgaanbiedernaam>: "Noord@medmij" does not match the pattern [a-z]+@medmij`, ""},
		badCase{"name pattern digit", rep(base, "noord@medmij<", "noord2@medmij<"), `line 7: <Zorgaanbiedernaam>: "noord2@medmij" does not match the pattern [a-z]+@medmij`, ""},
		badCase{"name without @medmij", rep(base, "noord@medmij<", "noordnoordnoord<"), `line 7: <Zorgaanbiedernaam>: "noordnoordnoord" does not match the pattern [a-z]+@medmij`, ""},
		badCase{"name too short", rep(base, "noord@medmij<", "abc@medmij<"[1:]), `line 7: <Zorgaanbiedernaam>: length 9 is outside 10..57`, ""},
		badCase{"port in authorization uri", rep(base, "https://noord.example.nl/oauth/authorize", "https://noord.example.nl:8443/oauth/authorize"),
			`line 16: <AuthorizationEndpointuri>: "https://noord.example.nl:8443/oauth/authorize" is not a front-channel URI (https://host/path, no port, query or fragment)`, ""},
		badCase{"query in authorization uri", rep(base, "https://noord.example.nl/oauth/authorize", "https://noord.example.nl/oauth/authorize?a=b"),
			`line 16: <AuthorizationEndpointuri>: "https://noord.example.nl/oauth/authorize?a=b" is not a front-channel URI (https://host/path, no port, query or fragment)`, ""},
		badCase{"http token uri", rep(base, "https://noord.example.nl:8443/oauth/token", "http://noord.example.nl:8443/oauth/token"),
			`line 19: <TokenEndpointuri>: "http://noord.example.nl:8443/oauth/token" is not a back-channel URI (https://host[:port]/path, no query or fragment)`, ""},
		badCase{"host without dot", rep(base, "https://noord.example.nl:8443/oauth/token", "https://localhost:8443/oauth/token"),
			`line 19: <TokenEndpointuri>: "https://localhost:8443/oauth/token" is not a back-channel URI (https://host[:port]/path, no query or fragment)`, ""},
		badCase{"port out of range", rep(base, "https://noord.example.nl:8443/fhir", "https://noord.example.nl:99999/fhir"),
			`line 25: <ResourceEndpointuri>: "https://noord.example.nl:99999/fhir" has port 99999 outside 1..65535`, ""},
		badCase{"duplicate provider", rep(base, "alfapgo@medmij<", "noord@medmij<"), `line 73: <Zorgaanbiedernaam>: duplicate Zorgaanbiedernaam "noord@medmij" (first on line 7)`, ""},
		badCase{"unknown Aanbiedertype", rep(base, "<Aanbiedertype>APD<", "<Aanbiedertype>PGO<"), `line 8: <Aanbiedertype>: "PGO" is not one of ZA, BAZB, APD`, ""},
		badCase{"missing Aanbiedertype in release3", rep(base, "<Aanbiedertype>APD</Aanbiedertype>", ""),
			"line 9: <Aanbiedertype>: required element is missing in <Zorgaanbieder> (found <Interfaceversies> instead)", ""},
		badCase{"release3 element in release2", rep(fixture(t, "zal2.xml"), "</Zorgaanbiedernaam>", "</Zorgaanbiedernaam><Aanbiedertype>APD</Aanbiedertype>"),
			"line 7: <Aanbiedertype>: unknown element in <Zorgaanbieder> (allowed: Zorgaanbiedernaam, Gegevensdiensten)", ""},
		badCase{"elements out of order", rep(base, authBlock+tokenBlock, tokenBlock+authBlock),
			"line 15: <TokenEndpoint>: element out of order in <Gegevensdienst> (expected <AuthorizationEndpoint> here; order: GegevensdienstId, AuthorizationEndpoint, TokenEndpoint, Abonneren, Systeemrollen)", ""},
		badCase{"missing token endpoint", rep(base, tokenBlock, ""),
			"line 18: <TokenEndpoint>: required element is missing in <Gegevensdienst> (found <Systeemrollen> instead)", ""},
		badCase{"duplicate GegevensdienstId", rep(base, "</Gegevensdienst>\n          </Gegevensdiensten>", "</Gegevensdienst>"+gd51+"\n          </Gegevensdiensten>"),
			`line 29: <GegevensdienstId>: duplicate GegevensdienstId "51" (first on line 14)`, ""},
		badCase{"duplicate Systeemrolcode", rep(base, "<Systeemrolcode>LAB-2<", "<Systeemrolcode>LAB-1<"),
			`line 61: <Systeemrolcode>: duplicate Systeemrolcode "LAB-1" (first on line 55)`, ""},
		badCase{"GegevensdienstId too long", rep(base, "<GegevensdienstId>51<", "<GegevensdienstId>1234567890123456789012345678901<"),
			`line 14: <GegevensdienstId>: length 31 is outside 1..30`, ""},
		badCase{"bad MaximaleDuur", rep(base, "P30D", "30 days"), `line 50: <MaximaleDuur>: "30 days" is neither a number of days nor an xs:duration`, ""},
		badCase{"no providers", truncateAfter(base, "<Zorgaanbieders>\n"),
			"line 6: <Zorgaanbieders>: file is truncated: element opened on line 5 is not closed", ""},
		badCase{"empty Zorgaanbieders", append(truncateAfter(base, "<Zorgaanbieders>"), "</Zorgaanbieders>\n</Zorgaanbiederslijst>\n"...),
			"line 5: <Zorgaanbieder>: required element is missing in <Zorgaanbieders> (before </Zorgaanbieders>)", ""},
	)
	runBad(t, cases)
}

const (
	authBlock  = "<AuthorizationEndpoint>\n                <AuthorizationEndpointuri>https://noord.example.nl/oauth/authorize</AuthorizationEndpointuri>\n              </AuthorizationEndpoint>\n              "
	tokenBlock = "<TokenEndpoint>\n                <TokenEndpointuri>https://noord.example.nl:8443/oauth/token</TokenEndpointuri>\n              </TokenEndpoint>\n              "
)

const gd51 = `<Gegevensdienst><GegevensdienstId>51</GegevensdienstId><AuthorizationEndpoint><AuthorizationEndpointuri>https://a.nl/x</AuthorizationEndpointuri></AuthorizationEndpoint><TokenEndpoint><TokenEndpointuri>https://a.nl/t</TokenEndpointuri></TokenEndpoint><Systeemrollen><Systeemrol><Systeemrolcode>X</Systeemrolcode><ResourceEndpoint><ResourceEndpointuri>https://a.nl/r</ResourceEndpointuri></ResourceEndpoint></Systeemrol></Systeemrollen></Gegevensdienst>`

func TestMalformedOCL(t *testing.T) {
	base := fixture(t, "ocl.xml")
	cases := append(commonCases(base, "OAuthclientlist", NamespaceOCL, "12"),
		badCase{"duplicate host", rep(base, "<Hostname>noord.example.nl<", "<Hostname>zuid.example.nl<"), `line 11: <Hostname>: duplicate Hostname "zuid.example.nl" (first on line 7)`, ""},
		badCase{"host with upper case", rep(base, "<Hostname>zuid.example.nl<", "<Hostname>Zuid.example.nl<"), `line 7: <Hostname>: "Zuid.example.nl" is not a host name (lower-case labels with at least one dot)`, ""},
		badCase{"host without dot", rep(base, "<Hostname>zuid.example.nl<", "<Hostname>localhost<"), `line 7: <Hostname>: "localhost" is not a host name (lower-case labels with at least one dot)`, ""},
		badCase{"host with port", rep(base, "<Hostname>zuid.example.nl<", "<Hostname>zuid.example.nl:443<"), `line 7: <Hostname>: "zuid.example.nl:443" is not a host name (lower-case labels with at least one dot)`, ""},
		badCase{"organisation too short", rep(base, ">PGO Zuid<", ">PG<"), `line 8: <OAuthclientOrganisatienaam>: length 2 is outside 3..50`, ""},
		badCase{"organisation too long", rep(base, ">PGO Zuid<", ">"+string(make([]byte, 0))+"PGO Zuid PGO Zuid PGO Zuid PGO Zuid PGO Zuid PGO Zuid<"), `line 8: <OAuthclientOrganisatienaam>: length 53 is outside 3..50`, ""},
		badCase{"missing organisation", rep(base, "<OAuthclientOrganisatienaam>PGO Zuid</OAuthclientOrganisatienaam>", ""),
			"line 9: <OAuthclientOrganisatienaam>: required element is missing in <OAuthclient> (before </OAuthclient>)", ""},
		badCase{"duplicate gegevensdienst", rep(base, "<GegevensdienstId>4<", "<GegevensdienstId>51<"), `line 18: <GegevensdienstId>: duplicate GegevensdienstId "51" (first on line 15)`, ""},
		badCase{"empty Gegevensdiensten", rep(base, "<OAuthclientOrganisatienaam>PGO Zuid</OAuthclientOrganisatienaam>", "<OAuthclientOrganisatienaam>PGO Zuid</OAuthclientOrganisatienaam><Gegevensdiensten></Gegevensdiensten>"),
			"line 8: <Gegevensdienst>: required element is missing in <Gegevensdiensten> (before </Gegevensdiensten>)", ""},
	)
	runBad(t, cases)
}

func TestMalformedGNL(t *testing.T) {
	base := fixture(t, "gnl.xml")
	cases := append(commonCases(base, "Gegevensdienstnamenlijst", NamespaceGNL, "5"),
		badCase{"duplicate id", rep(base, "<GegevensdienstId>4<", "<GegevensdienstId>51<"), `line 11: <GegevensdienstId>: duplicate GegevensdienstId "51" (first on line 7)`, ""},
		badCase{"empty display name", rep(base, ">Basisgegevens Zorg<", "> <"), `line 12: <Weergavenaam>: display name is empty`, ""},
		badCase{"missing display name", rep(base, "<Weergavenaam>Basisgegevens Zorg</Weergavenaam>", ""),
			"line 13: <Weergavenaam>: required element is missing in <Gegevensdienst> (before </Gegevensdienst>)", ""},
		badCase{"empty id", rep(base, "<GegevensdienstId>4<", "<GegevensdienstId><"), `line 11: <GegevensdienstId>: length 0 is outside 1..30`, ""},
		badCase{"nested element in leaf", rep(base, ">Basisgegevens Zorg<", "><b>x</b><"), "line 12: <b>: unexpected element inside <Weergavenaam> (text expected)", ""},
	)
	runBad(t, cases)
}

func TestMalformedWhitelist(t *testing.T) {
	base := fixture(t, "whitelist.xml")
	cases := append(commonCases(base, "Whitelist", NamespaceWhitelist, "9"),
		badCase{"duplicate node", rep(base, ">zuid.localhost<", ">noord.example.nl<"), `line 7: <MedMijNode>: duplicate MedMijNode "noord.example.nl" (first on line 6)`, ""},
		badCase{"node with scheme", rep(base, ">zuid.localhost<", ">https://zuid.localhost<"), `line 7: <MedMijNode>: "https://zuid.localhost" is not a host name (lower-case labels with at least one dot)`, ""},
		badCase{"node with space", rep(base, ">zuid.localhost<", "> zuid.localhost<"), `line 7: <MedMijNode>: " zuid.localhost" is not a host name (lower-case labels with at least one dot)`, ""},
		badCase{"no nodes", rep(rep(base, "<MedMijNode>noord.example.nl</MedMijNode>", ""), "<MedMijNode>zuid.localhost</MedMijNode>", ""),
			"line 8: <MedMijNode>: required element is missing in <MedMijNodes> (before </MedMijNodes>)", ""},
		badCase{"mixed content", rep(base, "<MedMijNodes>", "<MedMijNodes>text"), "line 5: <MedMijNodes>: mixed text and elements are not allowed", ""},
	)
	runBad(t, cases)
}

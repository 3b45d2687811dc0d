package account

import "strings"

// acrFamilies orders the authentication context class values a Dutch PGO meets,
// lowest first. Values are only compared within one family.
//   - eIDAS levels of assurance (Regulation 2015/1502): low, substantial, high.
//   - DigiD through SAML brokers (Logius, "DigiD betrouwbaarheidsniveaus"): Basis,
//     Midden (two factors), Substantieel, Hoog.
//   - plain numbers ("1", "2", ...), as some brokers emit.
var acrFamilies = [][]string{
	{"http://eidas.europa.eu/LoA/low", "http://eidas.europa.eu/LoA/substantial", "http://eidas.europa.eu/LoA/high"},
	{
		"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
		"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
		"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
		"urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
	},
	{"0", "1", "2", "3", "4"},
}

type rank struct{ family, level int }

func acrRank(v string) (rank, bool) {
	v = strings.TrimSpace(v)
	for f, fam := range acrFamilies {
		for l, x := range fam {
			if x == v {
				return rank{f, l}, true
			}
		}
	}
	return rank{}, false
}

// ACRAtLeast reports whether the ID token's acr meets min (OIDC Core 1.0 §2: acr
// is the authentication context class). Unknown values and values of another
// family are refused: an unrecognised level never passes.
func ACRAtLeast(acr, min string) bool {
	got, ok1 := acrRank(acr)
	want, ok2 := acrRank(min)
	return ok1 && ok2 && got.family == want.family && got.level >= want.level
}

package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Lang is a user-interface language. Dutch is the default: the service is for
// Dutch patients; English is the second language.
type Lang string

// The supported languages.
const (
	NL Lang = "nl"
	EN Lang = "en"
)

// Langs lists the supported languages, the default first.
var Langs = []Lang{NL, EN}

var catalog = mustLoadCatalog()

// mustLoadCatalog reads translations/<lang>.json and every
// translations/<area>.<lang>.json, so that each area keeps its texts in a file of
// its own. A key defined twice for one language is a programming error.
func mustLoadCatalog() map[Lang]map[string]string {
	c := map[Lang]map[string]string{}
	for _, l := range Langs {
		names, err := fs.Glob(files, "translations/*."+string(l)+".json")
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		for _, name := range append([]string{"translations/" + string(l) + ".json"}, names...) {
			b, err := files.ReadFile(name)
			if err != nil {
				panic(err)
			}
			part := map[string]string{}
			if err := json.Unmarshal(b, &part); err != nil {
				panic(fmt.Sprintf("web: %s: %v", name, err))
			}
			for k, v := range part {
				if _, dup := m[k]; dup {
					panic(fmt.Sprintf("web: %s: key %q is defined twice for %s", name, k, l))
				}
				m[k] = v
			}
		}
		c[l] = m
	}
	return c
}

// Keys returns the translation keys of l (for tests that compare languages).
func Keys(l Lang) []string {
	out := make([]string, 0, len(catalog[l]))
	for k := range catalog[l] {
		out = append(out, k)
	}
	return out
}

// T translates key into l, formatting args with fmt verbs in the string. A key
// missing in l falls back to Dutch, then to the key itself, so a gap is visible but
// never breaks a page.
func T(l Lang, key string, args ...any) string {
	s, ok := catalog[l][key]
	if !ok {
		if s, ok = catalog[NL][key]; !ok {
			return key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// ParseLang picks the language for a request: an explicit choice (the lang query
// parameter or a cookie) wins, then the first supported language in the
// Accept-Language header by quality (RFC 9110 §12.5.4), then Dutch.
func ParseLang(explicit, acceptLanguage string) Lang {
	if l, ok := supported(explicit); ok {
		return l
	}
	best, bestQ := NL, -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if l, ok := supported(tag); ok && q > 0 && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

func supported(tag string) (Lang, bool) {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	for _, l := range Langs {
		if primary == string(l) {
			return l, true
		}
	}
	return "", false
}

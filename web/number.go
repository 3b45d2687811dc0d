package web

import "strconv"

// thousands is the digit-group separator of each language: Dutch writes 25.000,
// English 25,000 (so 25.000 reads as twenty-five to an English reader, and 25,000
// as twenty-five to a Dutch one: a count must follow the page's language).
var thousands = map[Lang]byte{NL: '.', EN: ','}

// Number writes n with its digits grouped by three in l's convention ("25.000",
// "25,000"); below 1000 it is n as is. Counts on pages go through it, and the
// texts that show them take a %s.
func Number(l Lang, n int) string {
	sep, ok := thousands[l]
	if !ok {
		sep = thousands[NL]
	}
	digits := strconv.Itoa(n)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	if len(digits) <= 3 {
		return sign + digits
	}
	out := make([]byte, 0, len(digits)+len(digits)/3)
	for i := 0; i < len(digits); i++ {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, sep)
		}
		out = append(out, digits[i])
	}
	return sign + string(out)
}

// N writes n in the page's language (Number): {{.T "consent.count" (.N .Count)}}.
func (p Page) N(n int) string { return Number(p.Lang, n) }

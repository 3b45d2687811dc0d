package web

import (
	"strconv"
	"time"
)

var monthNames = map[Lang][12]string{
	NL: {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"},
	EN: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// Date writes t's day with the month in words ("3 december 2026", "3 December
// 2026"): a numeric "3-12-2026" reads as 12 March to many English readers
// (issue 13), a month name cannot be misread in either language.
func Date(l Lang, t time.Time) string {
	names, ok := monthNames[l]
	if !ok {
		names = monthNames[NL]
	}
	return strconv.Itoa(t.Day()) + " " + names[t.Month()-1] + " " + strconv.Itoa(t.Year())
}

// DateTime is Date with the 24-hour clock time ("3 december 2026, 14:05").
func DateTime(l Lang, t time.Time) string {
	return Date(l, t) + ", " + t.Format("15:04")
}

package export

import (
	"fmt"
	"regexp"
	"time"
	_ "time/tzdata" // Europe/Amsterdam must resolve on hosts without a zoneinfo database
)

// amsterdam is the time zone every time in the document is shown in: the reader is
// a Dutch patient, whatever zone the server runs in.
var amsterdam = mustZone("Europe/Amsterdam")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("export: time zone %s: %v", name, err)) // embedded tzdata makes this unreachable
	}
	return loc
}

var dutchMonths = [...]string{"januari", "februari", "maart", "april", "mei", "juni", "juli",
	"augustus", "september", "oktober", "november", "december"}

var dutchDays = [...]string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"}

// dutchDateTime renders t as Dutch prose in Amsterdam time, e.g.
// "maandag 23 november 2026 om 18:26 uur".
func dutchDateTime(t time.Time) string {
	t = t.In(amsterdam)
	return fmt.Sprintf("%s %d %s %d om %02d:%02d uur", dutchDays[t.Weekday()], t.Day(),
		dutchMonths[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// dutchDate renders the calendar date of t in Amsterdam time as dd-mm-jjjj.
func dutchDate(t time.Time) string {
	return t.In(amsterdam).Format("02-01-2006")
}

var (
	fullDate  = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)
	yearMonth = regexp.MustCompile(`^(\d{4})-(\d{2})$`)
)

// dutchPartialDate renders a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD, FHIR R4 §2.24.0.1
// "date") in Dutch order: dd-mm-jjjj, mm-jjjj or jjjj. Anything else is shown as given,
// because the cover page must not hide what the dossier holds.
func dutchPartialDate(s string) string {
	if m := fullDate.FindStringSubmatch(s); m != nil {
		return m[3] + "-" + m[2] + "-" + m[1]
	}
	if m := yearMonth.FindStringSubmatch(s); m != nil {
		return m[2] + "-" + m[1]
	}
	return s
}

// humanSize renders a byte count with a Dutch decimal comma, e.g. "1,5 MB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGT"[exp])
	for i := range len(s) {
		if s[i] == '.' {
			return s[:i] + "," + s[i+1:]
		}
	}
	return s
}

package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/web"
)

// At 1280 px (the browser's window here) the auditor's table fits: neither the
// page nor the table's own region scrolls sideways (issue 13), in both languages;
// the patient's log shows dates with the month in words, never day-month-year
// digits that English readers take for month-day.
func TestUIAuditTableFitsAt1280(t *testing.T) {
	e, auditor, jan := uiFixture(t)
	u := newUIRun(t, e)
	for _, l := range web.Langs {
		u.as(auditor)
		u.page("audit-1280", "/audit", http.StatusOK, l)
		got := u.eval(`[innerWidth, document.documentElement.scrollWidth, document.querySelector(".table-scroll").scrollWidth,
			document.querySelector(".table-scroll").clientWidth].join(" ")`)
		var vw, page, table, region int
		if _, err := fmt.Sscan(got, &vw, &page, &table, &region); err != nil || vw < 1200 {
			t.Fatalf("%s: measurements %q (%v)", l, got, err)
		}
		if page > vw || table > region {
			t.Errorf("%s: overflow at %d px: page %d wide, table %d in a region of %d", l, vw, page, table, region)
		}
		u.as(jan)
		u.page("mylog-dates", "/mijn-log", http.StatusOK, l)
		cell := u.eval(`document.querySelector("table.data tbody time").textContent`)
		if want := web.Date(l, time.Now().In(displayZone)); !strings.HasPrefix(cell, want) {
			t.Errorf("%s: date %q; want it to start with %q", l, cell, want)
		}
	}
}

package config

import "testing"

// PGO_EXPORT_MAX_ITEMS bounds the items of one export document (a render needs
// about 11 KB of memory per item): 25,000 by default, 1..1,000,000, and a bad
// value stops the start with a line naming the setting and the bounds.
func TestExportMaxItems(t *testing.T) {
	c, err := loadWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.FHIR.ExportMaxItems != 25000 {
		t.Errorf("default %d, want 25000", c.FHIR.ExportMaxItems)
	}
	for v, want := range map[string]int{"1": 1, "1000000": 1000000} {
		if c, err := loadWith(map[string]string{"PGO_EXPORT_MAX_ITEMS": v}); err != nil || c.FHIR.ExportMaxItems != want {
			t.Errorf("%q: %v", v, err)
		}
	}
	for v, want := range map[string]string{
		"0":       "PGO_EXPORT_MAX_ITEMS: 0 is outside 1..1000000",
		"1000001": "PGO_EXPORT_MAX_ITEMS: 1000001 is outside 1..1000000",
		"-5":      "PGO_EXPORT_MAX_ITEMS: -5 is outside 1..1000000",
		"25k":     `PGO_EXPORT_MAX_ITEMS: "25k" is not a whole number`,
	} {
		if _, err := loadWith(map[string]string{"PGO_EXPORT_MAX_ITEMS": v}); err == nil || err.Error() != want {
			t.Errorf("%s: err %v, want %q", v, err, want)
		}
	}
}

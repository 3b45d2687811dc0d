package transfer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

// TestParseListTakesOnlyCurrent: of a list with a current and a superseded (or
// entered-in-error) DocumentReference only the current one is taken; the
// other's Binary is never named.
func TestParseListTakesOnlyCurrent(t *testing.T) {
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	entry := func(id, status string) string {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		doc["id"], doc["status"] = id, status
		doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)["url"] = "Binary/" + id
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return `{"fullUrl":"` + fuzzBase + `/DocumentReference/` + id + `","resource":` + string(b) + `,"search":{"mode":"match"}}`
	}
	for _, other := range []string{"superseded", "entered-in-error"} {
		t.Run(other, func(t *testing.T) {
			body := []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` +
				entry("old", other) + `,` + entry("new", "current") + `]}`)
			docs, f := parseList(fuzzBase, body)
			if f != nil {
				t.Fatalf("refused: %v", f)
			}
			if len(docs) != 1 || docs[0].ID != "new" || !strings.HasSuffix(docs[0].URL, "/Binary/new") {
				t.Fatalf("took %+v; want only the current document", docs)
			}
		})
	}
}

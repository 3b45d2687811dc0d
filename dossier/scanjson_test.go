package dossier

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// stdDecode is what decode did before scanObject: encoding/json with UseNumber.
func stdDecode(b []byte) (node, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var n node
	err := d.Decode(&n)
	return n, err
}

var scanSeeds = []string{
	`{}`, ` {"a":1} `, `{"a":[],"b":{},"c":null,"d":true,"e":false}`,
	`{"n":[-0,0.5,1e3,-12.50E-02,7.20,10]}`, `{"a":1,"a":2}`, `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\u0000"}`,
	`{"k\u00e9y":"v"} trailing`, `{"x":"h\u00e9llo wörld ✓"}`, `{"x":"\ud83d\ude00"}`, `{"x":"\ud83d"}`,
	"{\"x\":\"\xff\"}", "{\"x\":\"a\tb\"}", `{"x":01}`, `{"x":1.}`, `{"x":-}`, `{"x":.5}`, `{"x":1e}`,
	`[1,2]`, `null`, `nullx`, `"s"`, `{"a":1,}`, `{"a" 1}`, `{"a":[1,]}`, `{"a":tru}`, `{`, ``,
	`{"resourceType":"Observation","valueQuantity":{"value":7.20,"unit":"mmol/l"},"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]}}`,
}

// FuzzScanObject: wherever scanObject decodes, it gives exactly what encoding/json
// gives, and encoding/json accepts that input; where it declines, decode falls back
// to encoding/json, so decode equals stdDecode on every input.
func FuzzScanObject(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := stdDecode(b)
		if got, ok := scanObject(b); ok {
			if werr != nil {
				t.Fatalf("scanObject accepted %q; encoding/json: %v", b, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("scanObject(%q) = %#v, encoding/json %#v", b, got, want)
			}
		}
		got, err := decode(b)
		if (err != nil) != (werr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("decode(%q) = %#v, %v; encoding/json %#v, %v", b, got, err, want, werr)
		}
	})
}

// TestScanObjectTakesStoredResources: the scanner, not the fallback, decodes
// every resource of a generated dossier (else it saves nothing).
func TestScanObjectTakesStoredResources(t *testing.T) {
	data, err := Generate(SizeStandard, 7)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatal(err)
	}
	if len(bundle.Entry) < 100 {
		t.Fatalf("only %d resources", len(bundle.Entry))
	}
	for i, e := range bundle.Entry {
		got, ok := scanObject(e.Resource)
		want, _ := stdDecode(e.Resource)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("resource %d: scanned %v, equal %v", i, ok, reflect.DeepEqual(got, want))
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data, err := Generate(SizeStandard, 7)
	if err != nil {
		b.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		fn   func([]byte) (node, error)
	}{{"encoding-json", stdDecode}, {"decode", decode}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range bundle.Entry {
					if _, err := impl.fn(e.Resource); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

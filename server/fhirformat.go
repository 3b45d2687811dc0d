package server

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// Media types of the FHIR endpoint (STU3 §2.6.0.1 http.html#mime-type; R4 adds the
// fhirVersion parameter, which selects R4's Binary.data).
const (
	mimeFHIRJSON = "application/fhir+json"
	mimeFHIRXML  = "application/fhir+xml"
	mimePDF      = "application/pdf"
)

// fhirFormat is the representation a request asked for.
type fhirFormat struct {
	xml bool // FHIR XML instead of JSON
	pdf bool // the raw document (Binary only)
	r4  bool // fhirVersion=4.0: R4 Binary (data instead of content)
}

func (f fhirFormat) name() string {
	switch {
	case f.pdf:
		return "pdf"
	case f.xml && f.r4:
		return "r4-xml"
	case f.xml:
		return "xml"
	case f.r4:
		return "r4-json"
	}
	return "json"
}

func (f fhirFormat) contentType() string {
	t := mimeFHIRJSON
	if f.xml {
		t = mimeFHIRXML
	}
	if f.r4 {
		return t + "; fhirVersion=4.0; charset=utf-8"
	}
	return t + "; charset=utf-8"
}

// negotiate picks the representation: `_format` first (FHIR http.html#mime-type),
// then Accept by preference (q). JSON is the default of FHIR resources; the raw PDF
// the default of a Binary (Accept: application/pdf, */* or none). ok is false for a
// `_format` we do not offer (406).
func negotiate(r *http.Request, binary bool) (f fhirFormat, ok bool) {
	if v, has := r.URL.Query()["_format"]; has && len(v) > 0 {
		// A client that does not percent-encode `+` (`_format=application/fhir+json`)
		// arrives here with a space (form decoding); no format has a space.
		format := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(v[0])), " ", "+")
		switch format {
		case "json", "application/json", mimeFHIRJSON, "application/json+fhir":
			return fhirFormat{}, true
		case "xml", "text/xml", "application/xml", mimeFHIRXML, "application/xml+fhir":
			return fhirFormat{xml: true}, true
		}
		return fhirFormat{}, false
	}
	def := fhirFormat{pdf: binary}
	for _, m := range acceptList(r.Header.Get("Accept")) {
		t, params, err := mime.ParseMediaType(m)
		if err != nil {
			continue
		}
		r4 := strings.HasPrefix(params["fhirversion"], "4.")
		switch t {
		case mimeFHIRJSON, "application/json", "application/json+fhir":
			return fhirFormat{r4: r4}, true
		case mimeFHIRXML, "application/xml", "text/xml", "application/xml+fhir":
			return fhirFormat{xml: true, r4: r4}, true
		case mimePDF:
			if binary {
				return fhirFormat{pdf: true}, true
			}
		case "*/*", "application/*":
			return def, true
		}
	}
	return def, true
}

// acceptList returns the media ranges of an Accept header with q > 0, most
// preferred first (RFC 9110 §12.5.1), in header order among equals.
func acceptList(h string) []string {
	type item struct {
		m string
		q float64
	}
	var items []item
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		q := 1.0
		if _, params, err := mime.ParseMediaType(part); err == nil {
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			items = append(items, item{part, q})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].q > items[j].q })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.m
	}
	return out
}

// writeResource writes a FHIR resource (a value whose JSON is FHIR JSON) in the
// negotiated format. Every FHIR response is health data or about it: no-store.
func writeResource(c echo.Context, status int, f fhirFormat, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if f.xml {
		var buf bytes.Buffer
		if err := fhir.ToXML(&buf, body); err != nil {
			return err
		}
		body = buf.Bytes()
	}
	f.r4, f.pdf = false, false // resources other than Binary are STU3
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.contentType())
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept")
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err = c.Response().Write(body)
	return err
}

// writeOutcome answers with an OperationOutcome (STU3 http.html: errors carry one) in the
// format the request asked for, JSON when it asked for none or for a PDF.
func writeOutcome(c echo.Context, status int, code, text string) error {
	f, _ := negotiate(c.Request(), false)
	severity := "error"
	if status < 400 {
		severity = "information"
	}
	return writeResource(c, status, f, fhir.NewOutcome(severity, code, text))
}

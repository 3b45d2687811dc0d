package pdfa

import (
	"bytes"
	"encoding/xml"
	"time"
)

// xmpDate is the XMP date form (ISO 8601 with seconds and a numeric offset) of t;
// ISO 19005-1 §6.7.3 requires it to denote the same instant as the Info dictionary's
// PDF date (ISO 32000-1 §7.9.4), which pdfDate renders from the same t.
func xmpDate(t time.Time) string {
	return t.Format("2006-01-02T15:04:05-07:00")
}

// pdfDate is the PDF date string (ISO 32000-1 §7.9.4) for t, with its offset in the
// D:YYYYMMDDHHmmSS+HH'mm' form that pdfcpu also writes, so both have the same length.
func pdfDate(t time.Time) string {
	s := t.Format("D:20060102150405-07'00'")
	return s
}

// buildXMP returns the uncompressed XMP packet (ISO 16684-1) that ISO 19005-1 §6.7
// and ISO 19005-2 §6.6 require: the PDF/A identification schema with part and
// conformance, and the Dublin Core / XMP / PDF properties that mirror the Info
// dictionary entries field for field.
func buildXMP(m Meta, part int, producer string) []byte {
	var b bytes.Buffer
	b.WriteString("<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n")
	b.WriteString("<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n")

	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\n")
	b.WriteString("<pdfaid:part>" + itoa(part) + "</pdfaid:part>\n")
	b.WriteString("<pdfaid:conformance>B</pdfaid:conformance>\n")
	b.WriteString("</rdf:Description>\n")

	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n")
	b.WriteString("<dc:format>application/pdf</dc:format>\n")
	b.WriteString("<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">" + esc(m.Title) + "</rdf:li></rdf:Alt></dc:title>\n")
	b.WriteString("<dc:creator><rdf:Seq><rdf:li>" + esc(m.Author) + "</rdf:li></rdf:Seq></dc:creator>\n")
	b.WriteString("<dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">" + esc(m.Subject) + "</rdf:li></rdf:Alt></dc:description>\n")
	b.WriteString("<dc:language><rdf:Bag><rdf:li>" + esc(m.lang()) + "</rdf:li></rdf:Bag></dc:language>\n")
	b.WriteString("</rdf:Description>\n")

	d := xmpDate(m.Created)
	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\">\n")
	b.WriteString("<xmp:CreateDate>" + d + "</xmp:CreateDate>\n")
	b.WriteString("<xmp:ModifyDate>" + d + "</xmp:ModifyDate>\n")
	b.WriteString("<xmp:MetadataDate>" + d + "</xmp:MetadataDate>\n")
	b.WriteString("<xmp:CreatorTool>" + esc(m.Creator) + "</xmp:CreatorTool>\n")
	b.WriteString("</rdf:Description>\n")

	b.WriteString("<rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n")
	b.WriteString("<pdf:Producer>" + esc(producer) + "</pdf:Producer>\n")
	b.WriteString("</rdf:Description>\n")

	b.WriteString("</rdf:RDF>\n</x:xmpmeta>\n")
	// Padding lets an editor update the packet in place (ISO 16684-1 §7.3.2).
	b.Write(bytes.Repeat([]byte("                                                               \n"), 16))
	b.WriteString("<?xpacket end=\"w\"?>")
	return b.Bytes()
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func itoa(i int) string {
	return string(rune('0' + i))
}

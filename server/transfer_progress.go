package server

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/web"
)

// progress is the transfer's page: the steps so far, the documents and bytes, and
// at the end the document or the error with "Opnieuw proberen". While the
// transfer runs it follows the Server-Sent Events stream with a small script, and
// without JavaScript it refreshes itself every few seconds.
func (p *transferPages) progress(c echo.Context) error {
	ctx := c.Request().Context()
	cur := p.session(c)
	t, err := p.t.Get(ctx, cur.sess.AccountID, c.Param("id"))
	if err != nil {
		return err
	}
	l := lang(c)
	v := web.TransferProgressView{Page: p.page(c, web.T(l, "transfer.progress.title")),
		CSRF: account.CSRFToken(cur.id), State: transferState(l, t)}
	if t.Status == transfer.StatusDone {
		docs, err := p.t.Documents(ctx, cur.sess.AccountID, t.ID)
		if err != nil {
			return err
		}
		v.Documents = documentRows(docs)
	}
	return p.render(c, http.StatusOK, "transfer_progress", v)
}

// transferState is what the page and the event stream show of a transfer.
func transferState(l web.Lang, t transfer.Transfer) web.TransferState {
	st := web.TransferState{ID: t.ID, Source: t.SourceDisplay, Status: string(t.Status),
		Label: web.T(l, "transfer.status."+string(t.Status)), DocsDone: t.DocsDone, DocsTotal: t.DocsTotal,
		Bytes: web.Size(l, t.BytesDone), Final: t.Status.Final(), CorrelationID: t.CorrelationID}
	st.Progress = web.T(l, "transfer.progress.docs", t.DocsDone, t.DocsTotal, st.Bytes)
	if t.BytesTotal > 0 {
		st.Percent = int(min(100, t.BytesDone*100/t.BytesTotal))
	}
	reached := true
	for _, s := range transfer.Steps {
		step := web.TransferStep{Label: web.T(l, "transfer.status."+string(s))}
		switch {
		case s == t.Status:
			step.State, reached = "current", false
		case reached && t.Status != transfer.StatusFailed:
			step.State = "done"
		default:
			step.State = "todo"
		}
		st.Steps = append(st.Steps, step)
	}
	if t.Status == transfer.StatusFailed {
		st.Reason = web.T(l, "transfer.reason."+string(t.Failure))
		st.Calm = t.Failure == transfer.ReasonAccessDenied
		st.CanRetry = t.Retry != transfer.RetryNone
		st.NewConsent = t.Retry == transfer.RetryConsent
	}
	return st
}

// events streams the transfer's state as Server-Sent Events (HTML Living Standard
// §9.2): one "state" event now and after every change the hub reports, a comment
// every 15 s to keep proxies from closing the stream, and the end of the stream
// once the transfer is done or failed.
func (p *transferPages) events(c echo.Context) error {
	ctx := c.Request().Context()
	user := p.session(c).sess.AccountID
	t, err := p.t.Get(ctx, user, c.Param("id"))
	if err != nil {
		return err
	}
	wake, stop := p.hub.Subscribe(t.ID)
	defer stop()
	w := c.Response()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	l := lang(c)
	last := ""
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		b, _ := json.Marshal(transferState(l, t))
		if string(b) != last {
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
				return nil
			}
			last = string(b)
		}
		if err := rc.Flush(); err != nil || t.Status.Final() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return nil
			}
		case <-wake:
			if t, err = p.t.Get(ctx, user, t.ID); err != nil {
				return nil
			}
		}
	}
}

// documents is "Ontvangen documenten": every received document with its
// provenance (source, time, size, SHA-256, correlation id).
func (p *transferPages) documents(c echo.Context) error {
	docs, err := p.t.Documents(c.Request().Context(), p.session(c).sess.AccountID, "")
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "transfer_documents", web.TransferDocumentsView{
		Page: p.page(c, web.T(lang(c), "transfer.documents.title")), Documents: documentRows(docs)})
}

func documentRows(docs []transfer.Document) []web.TransferDocument {
	out := make([]web.TransferDocument, 0, len(docs))
	for _, d := range docs {
		out = append(out, web.TransferDocument{ID: d.ID, Title: d.Title, Source: d.SourceDisplay, SizeBytes: d.Size,
			Received: d.Received.In(displayZone).Format("02-01-2006 15:04"), ReceivedISO: d.Received.UTC().Format(time.RFC3339),
			SHA256: hex.EncodeToString(d.SHA256), CorrelationID: d.CorrelationID})
	}
	return out
}

// download streams a received document, decrypted on the fly, as an attachment
// with a safe file name (RFC 6266; RFC 8187 for the UTF-8 form).
func (p *transferPages) download(c echo.Context) error {
	d, r, err := p.t.OpenDocument(c.Request().Context(), p.session(c).sess.AccountID, c.Param("id"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fileName(d)}))
	h.Set("Content-Length", fmt.Sprint(d.Size))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), r)
	return err // after the header: the error handler only logs it
}

// fileName makes a file name from the title: letters, digits, space, dot, dash
// and underscore survive (any script: a Dutch title keeps its accents), at most 80
// characters, always ending in .pdf.
func fileName(d transfer.Document) string {
	var b strings.Builder
	for _, r := range d.Title {
		switch {
		case r == ' ' || r == '-' || r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	name := strings.Trim(strings.TrimSpace(b.String()), ".")
	if r := []rune(name); len(r) > 80 {
		name = string(r[:80])
	}
	if name == "" {
		name = "dossier"
	}
	return name + ".pdf"
}

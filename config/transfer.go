package config

import (
	"fmt"
	"time"
)

// Transfer holds the target role's settings (package transfer, issue 12).
type Transfer struct {
	// MaxDocumentBytes is the largest document accepted from a source.
	MaxDocumentBytes int64
	// ClientCert and ClientKey are the certificate this instance presents to
	// source PGOs (mutual TLS; its DNS SAN is our client_id, the host name of
	// PGO_PUBLIC_URL). `pgo keys dev-ca` writes HOST-client.pem / HOST-client-key.pem.
	ClientCert, ClientKey string
	// PeerRoots are the trust anchors for source PGOs' server certificates; empty:
	// the system roots plus PGO_CLIENT_CA (the dev CA signs both in the demo).
	PeerRoots string
	// RequestTimeout bounds one request to a source, body included;
	// HeaderTimeout the wait for its response headers, and for more of its body.
	RequestTimeout, HeaderTimeout time.Duration
	// PollCap caps one Retry-After wait; PollTotal bounds all waits for one document.
	PollCap, PollTotal time.Duration
}

func (t *Transfer) settings() []setting {
	return []setting{
		integer("PGO_MAX_DOCUMENT_BYTES", "67108864", "largest document accepted from another PGO", &t.MaxDocumentBytes, 1024, 1<<32),
		str("PGO_CLIENT_CERT", "", "our client certificate towards other PGOs (PEM; DNS name = our host name)", &t.ClientCert, optional(checkFile)),
		str("PGO_CLIENT_KEY", "", "private key of PGO_CLIENT_CERT (PEM)", &t.ClientKey, optional(checkFile)),
		str("PGO_PEER_ROOTS", "", "trust anchors for other PGOs' server certificates (PEM; default: system roots + PGO_CLIENT_CA)", &t.PeerRoots, optional(checkFile)),
		duration("PGO_TRANSFER_REQUEST_TIMEOUT", "2m", "longest single request to another PGO, body included", &t.RequestTimeout, time.Second, time.Hour),
		duration("PGO_TRANSFER_HEADER_TIMEOUT", "30s", "longest wait for the response headers of another PGO, and for more of a body that has begun (a silent body is resumed with Range)", &t.HeaderTimeout, 100*time.Millisecond, 10*time.Minute),
		duration("PGO_TRANSFER_POLL_CAP", "30s", "longest wait for one Retry-After while a source renders", &t.PollCap, 10*time.Millisecond, 10*time.Minute),
		duration("PGO_TRANSFER_POLL_TOTAL", "10m", "longest total wait for a source to render a document", &t.PollTotal, 10*time.Millisecond, 2*time.Hour),
	}
}

// validate checks the settings that belong together.
func (t *Transfer) validate() error {
	if (t.ClientCert == "") != (t.ClientKey == "") {
		return fmt.Errorf("PGO_CLIENT_KEY: PGO_CLIENT_CERT and PGO_CLIENT_KEY must be set together")
	}
	return nil
}

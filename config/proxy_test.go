package config

import (
	"strings"
	"testing"
)

// A proxy client-certificate header without trusted proxies is refused with a
// line that names the setting and what it needs: the header would never be
// believed, so every peer request on the plain listener would fail at run time.
func TestProxyCertHeaderNeedsTrustedProxies(t *testing.T) {
	_, err := loadWith(map[string]string{"PGO_PLAIN_HTTP_ADDR": "127.0.0.1:8080",
		"PGO_PROXY_CLIENT_CERT_HEADER": "X-Client-Cert"})
	if err == nil || !strings.HasPrefix(err.Error(), "PGO_PROXY_CLIENT_CERT_HEADER:") ||
		!strings.Contains(err.Error(), "PGO_TRUSTED_PROXIES") {
		t.Fatalf("header without trusted proxies: %v; want a PGO_PROXY_CLIENT_CERT_HEADER error naming PGO_TRUSTED_PROXIES", err)
	}
	c, err := loadWith(map[string]string{"PGO_PLAIN_HTTP_ADDR": "127.0.0.1:8080",
		"PGO_PROXY_CLIENT_CERT_HEADER": "X-Client-Cert", "PGO_TRUSTED_PROXIES": "10.0.0.7"})
	if err != nil || c.ProxyClientCertHeader != "X-Client-Cert" || len(c.TrustedProxies) != 1 {
		t.Fatalf("header with a trusted proxy: %v", err)
	}
}

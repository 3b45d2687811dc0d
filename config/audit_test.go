package config

import (
	"testing"
	"time"
)

// PGO_AUDIT_LINK_INTERVAL (issue 16): default 1 s, bounded, not a number refused.
func TestAuditLinkInterval(t *testing.T) {
	c, err := loadWith(nil)
	if err != nil || c.Audit.LinkInterval != time.Second {
		t.Fatalf("default %v (%v)", c.Audit.LinkInterval, err)
	}
	if c, err = loadWith(map[string]string{"PGO_AUDIT_LINK_INTERVAL": "250ms"}); err != nil || c.Audit.LinkInterval != 250*time.Millisecond {
		t.Fatalf("250ms: %v (%v)", c.Audit.LinkInterval, err)
	}
	for _, v := range []string{"0s", "1ms", "-1s", "2m", "soon"} {
		if _, err := loadWith(map[string]string{"PGO_AUDIT_LINK_INTERVAL": v}); err == nil {
			t.Errorf("PGO_AUDIT_LINK_INTERVAL=%s accepted", v)
		}
	}
}

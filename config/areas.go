package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// The area sub-structs below are owned by the packages named in their comments; each
// adds its settings here so that `pgo help config` lists everything in one place.

// ZAL holds the MedMij list settings (package zal).
type ZAL struct {
	ZALFile, OCLFile, GNLFile, WhitelistFile string
	ZALURL, OCLURL, GNLURL, WhitelistURL     string
	Refresh                                  time.Duration
	MaxAge                                   time.Duration
	// LenientPorts admits a port on the ZAL authorization endpoint (front channel),
	// which MedMij forbids; only for a local demo on a loopback port.
	LenientPorts bool
}

func (z *ZAL) settings() []setting {
	return []setting{
		str("PGO_ZAL_FILE", "", "Zorgaanbiederslijst XML file", &z.ZALFile, optional(checkFile)),
		str("PGO_OCL_FILE", "", "OAuth Client List XML file", &z.OCLFile, optional(checkFile)),
		str("PGO_GNL_FILE", "", "Gegevensdienstnamenlijst XML file", &z.GNLFile, optional(checkFile)),
		str("PGO_WHITELIST_FILE", "", "Whitelist XML file", &z.WhitelistFile, optional(checkFile)),
		str("PGO_ZAL_URL", "", "Zorgaanbiederslijst URL (https)", &z.ZALURL, optional(checkURL("https"))),
		str("PGO_OCL_URL", "", "OAuth Client List URL (https)", &z.OCLURL, optional(checkURL("https"))),
		str("PGO_GNL_URL", "", "Gegevensdienstnamenlijst URL (https)", &z.GNLURL, optional(checkURL("https"))),
		str("PGO_WHITELIST_URL", "", "Whitelist URL (https)", &z.WhitelistURL, optional(checkURL("https"))),
		duration("PGO_LISTS_REFRESH", "1h", "how often the MedMij lists are refreshed", &z.Refresh, time.Second, 7*24*time.Hour),
		duration("PGO_LISTS_MAX_AGE", "24h", "lists older than this make /readyz fail", &z.MaxAge, time.Minute, 30*24*time.Hour),
		boolean("PGO_LISTS_LENIENT_PORTS", "false", "DEVELOPMENT ONLY: accept a port on the ZAL authorization endpoint (loopback demo)", &z.LenientPorts),
	}
}

// Audit holds the audit log settings (package audit).
type Audit struct {
	Retention          time.Duration
	CheckpointInterval time.Duration
	// CheckpointSink is where signed checkpoints also go, outside the database:
	// "stdout", or a file appended to (on storage the database user cannot
	// reach). Empty: only the audit_checkpoint table.
	CheckpointSink string
	// LinkInterval is the audit linker's fallback round (issue 16): pgo serve
	// and pgo worker link their own appends at once, and every LinkInterval
	// whatever other processes left.
	LinkInterval time.Duration
}

func (a *Audit) settings() []setting {
	return []setting{
		// NFR032: at least 5 years; default 5 years + 1 month.
		duration("PGO_AUDIT_RETENTION", "44568h", "how long audit records are kept (at least 5 years)", &a.Retention, 5*365*24*time.Hour, 100*365*24*time.Hour),
		duration("PGO_AUDIT_CHECKPOINT_INTERVAL", "1m", "how often the worker signs the audit chain head (and at shutdown)", &a.CheckpointInterval, time.Second, 7*24*time.Hour),
		duration("PGO_AUDIT_LINK_INTERVAL", "1s", "how often pgo serve and pgo worker link committed audit records into the chain at the latest", &a.LinkInterval, 10*time.Millisecond, time.Minute),
		str("PGO_AUDIT_CHECKPOINT_SINK", "", "where signed audit checkpoints also go, outside the database: stdout, or a file to append to (pgo audit verify reads it)", &a.CheckpointSink, nil),
	}
}

// Vault holds the encryption-at-rest and signing key settings (package vault).
type Vault struct {
	KeysetFile string // tink keyset for envelope encryption (JSON, mode 0600)
	// MasterKey, when set, is the base64 of 32 bytes that encrypt the keyset file
	// (vault.DecodeMasterKey turns it into bytes). Empty: the file is cleartext and
	// protected by its file mode only.
	MasterKey  string
	SigningKey string // PEM private key for JWS (audit checkpoints)
}

func (v *Vault) settings() []setting {
	return []setting{
		str("PGO_KEYSET_FILE", "", "encryption keyset file (created by pgo keys init --out FILE, mode 0600)", &v.KeysetFile, nil),
		str("PGO_MASTER_KEY", "", "base64 of 32 random bytes that encrypt the keyset file (optional)", &v.MasterKey, optional(checkMasterKey)),
		str("PGO_SIGNING_KEY", "", "signing key PEM file (created by pgo keys signing-key --out FILE)", &v.SigningKey, nil),
	}
}

// checkMasterKey checks the shape of PGO_MASTER_KEY without ever repeating its value.
func checkMasterKey(v string) error {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) != 32 {
				return fmt.Errorf("decodes to %d bytes, want 32 (make one with: head -c32 /dev/urandom | base64)", len(b))
			}
			return nil
		}
	}
	return fmt.Errorf("is not base64 (make one with: head -c32 /dev/urandom | base64)")
}

// Account holds login and session settings (package account).
type Account struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	MaxFailures     int
	LockoutDuration time.Duration
	IPLimit         int           // login attempts per client IP per IPWindow
	IPWindow        time.Duration // window of the per-IP counter
	Argon2Time      int
	Argon2MemoryKiB int
	OIDCIssuer      string
	OIDCClientID    string
	OIDCSecretFile  string
	OIDCMinACR      string
}

func (a *Account) settings() []setting {
	return []setting{
		duration("PGO_SESSION_IDLE_TIMEOUT", "15m", "session idle timeout", &a.IdleTimeout, time.Minute, 24*time.Hour),
		duration("PGO_SESSION_ABSOLUTE_TIMEOUT", "8h", "session absolute timeout", &a.AbsoluteTimeout, time.Minute, 7*24*time.Hour),
		intSetting("PGO_LOGIN_MAX_FAILURES", "5", "failed logins before an account is locked", &a.MaxFailures, 1, 100),
		duration("PGO_LOGIN_LOCKOUT", "15m", "how long a locked account stays locked", &a.LockoutDuration, time.Second, 24*time.Hour),
		intSetting("PGO_LOGIN_IP_LIMIT", "30", "login attempts per client IP per PGO_LOGIN_IP_WINDOW", &a.IPLimit, 1, 100000),
		duration("PGO_LOGIN_IP_WINDOW", "15m", "window of the per-IP login attempt counter", &a.IPWindow, time.Second, 24*time.Hour),
		intSetting("PGO_ARGON2_TIME", "2", "argon2id passes", &a.Argon2Time, 1, 20),
		// 19 MiB (with t=2) is the least the OWASP Password Storage Cheat Sheet
		// accepts for argon2id; ASVS 5.0 refers to it.
		intSetting("PGO_ARGON2_MEMORY_KIB", "19456", "argon2id memory in KiB", &a.Argon2MemoryKiB, 19456, 4*1024*1024),
		str("PGO_OIDC_ISSUER", "", "OpenID Connect issuer for external login (off when empty)", &a.OIDCIssuer, optional(checkIssuer)),
		str("PGO_OIDC_CLIENT_ID", "", "OpenID Connect client id", &a.OIDCClientID, nil),
		str("PGO_OIDC_CLIENT_SECRET_FILE", "", "file holding the OpenID Connect client secret", &a.OIDCSecretFile, optional(checkFile)),
		str("PGO_OIDC_MIN_ACR", "", "lowest acceptable acr value (two factors)", &a.OIDCMinACR, nil),
	}
}

// checkIssuer wants an https issuer (OpenID Connect Discovery 1.0 §3: the
// issuer is an https URL; tokens and keys come from there). Plain http is
// allowed only for a loopback host, so that tests can run a provider locally.
func checkIssuer(v string) error {
	if err := checkURL("https", "http")(v); err != nil {
		return err
	}
	u, _ := url.Parse(v) // parsed by checkURL
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); host == "localhost" || (err == nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%s must be https (http only for a loopback host)", redact(v))
}

var _ = boolean

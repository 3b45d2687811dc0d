package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

var probeCmd = &command{
	name:    "probe",
	summary: "Health check for containers: GET URL (2xx = healthy), or without URL check PostgreSQL, Redis and migrations.",
	usage:   "[--ca FILE] [URL]",
	run:     runProbe,
}

func runProbe(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	ca := fs.String("ca", "", "PEM file of the CA that signed the server certificate (default: system roots)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageError(fs, "at most one URL")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if fs.NArg() == 1 {
		return probeURL(ctx, e, fs.Arg(0), *ca)
	}
	a, err := openApp(ctx, e, "probe", io.Discard, needDB|needRedis)
	if err != nil {
		return &exitError{code: 1, msg: "unhealthy: " + err.Error()}
	}
	defer a.Close()
	if err := a.DB.MigrationsCurrent(ctx); err != nil {
		return &exitError{code: 1, msg: "unhealthy: migrations: " + err.Error()}
	}
	if err := a.Redis.Ping(ctx).Err(); err != nil {
		return &exitError{code: 1, msg: "unhealthy: redis: " + err.Error()}
	}
	fmt.Fprintln(e.stdout, "healthy")
	return nil
}

func probeURL(ctx context.Context, e *env, url, caFile string) error {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca %s: no PEM certificates", caFile)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &exitError{code: 2, msg: "pgo probe: bad URL: " + err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: "unhealthy: " + err.Error()}
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &exitError{code: 1, msg: fmt.Sprintf("unhealthy: %s answered %s", url, resp.Status)}
	}
	fmt.Fprintln(e.stdout, "healthy")
	return nil
}

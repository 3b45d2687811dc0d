package pgo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads docker-compose.yml with the Compose specification's own
// loader (no Docker engine runs here) and checks that the stack is complete: every
// service is there with a health check or a completion condition, start order is
// expressed with conditions, and no secret is written inline.
func TestComposeFile(t *testing.T) {
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  ".",
		ConfigFiles: []types.ConfigFile{{Filename: "docker-compose.yml"}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("pgo", true); o.SkipResolveEnvironment = true })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	want := map[string]bool{"postgres": true, "redis": true, "migrate": true, "serve": true, "worker": true}
	for name := range want {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %q missing", name)
		}
	}
	for _, name := range []string{"postgres", "redis", "serve", "worker"} {
		s, _ := p.GetService(name)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %q has no healthcheck", name)
		}
	}
	deps := map[string]map[string]string{
		"migrate": {"postgres": types.ServiceConditionHealthy},
		"serve":   {"migrate": types.ServiceConditionCompletedSuccessfully, "redis": types.ServiceConditionHealthy},
		"worker":  {"migrate": types.ServiceConditionCompletedSuccessfully, "redis": types.ServiceConditionHealthy},
	}
	for svc, conds := range deps {
		s, _ := p.GetService(svc)
		for dep, cond := range conds {
			if got := s.DependsOn[dep].Condition; got != cond {
				t.Errorf("%s depends_on %s: condition %q, want %q", svc, dep, got, cond)
			}
		}
	}
	for _, s := range p.Services {
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			lk := strings.ToLower(k)
			secretish := strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.HasSuffix(lk, "_key") || lk == "pgo_database_url"
			if secretish && !strings.HasPrefix(*v, "/run/secrets/") && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("service %s: %s is set inline; use a secret file", s.Name, k)
			}
			if strings.Contains(*v, "://") && strings.Contains(*v, "@") {
				t.Errorf("service %s: %s carries credentials in a URL", s.Name, k)
			}
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" {
			t.Errorf("secret %s is not read from a file", name)
		}
	}
	// Issue 15: the migration runs as the owner and creates the application
	// role; serve and worker connect as that role, never with the owner's URL.
	m, _ := p.GetService("migrate")
	if v := m.Environment["PGO_DB_APP_ROLE"]; v == nil || *v != "pgo_app" {
		t.Errorf("migrate does not create the application role: %v", v)
	}
	for _, name := range []string{"serve", "worker"} {
		s, _ := p.GetService(name)
		if v := s.Environment["PGO_DATABASE_URL_FILE"]; v == nil || *v != "/run/secrets/app_database_url" {
			t.Errorf("%s connects with %v; want the application role's URL", name, v)
		}
		for _, sec := range s.Secrets {
			if sec.Source == "database_url" {
				t.Errorf("%s can read the owner's database URL", name)
			}
		}
	}
}

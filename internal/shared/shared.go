// Package shared finds the project's shared material (MedMij test data, tools) in
// the `shared` folder beside the repository, wherever the clone lives: CI runs in a
// fresh clone with ../shared next to it. PGO_SHARED_DIR overrides the location.
package shared

import (
	"os"
	"path/filepath"
	"runtime"
)

// Path returns the path of elem inside the shared folder.
func Path(elem ...string) string {
	return filepath.Join(append([]string{Dir()}, elem...)...)
}

// Dir is the shared folder: $PGO_SHARED_DIR, or ../shared from the module root.
func Dir() string {
	if d := os.Getenv("PGO_SHARED_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0) // <root>/internal/shared/shared.go
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	return filepath.Join(filepath.Dir(root), "shared")
}

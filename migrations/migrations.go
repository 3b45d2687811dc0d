// Package migrations embeds the numbered SQL migrations. A migration that has landed
// is never edited: add a new number instead.
package migrations

import "embed"

// FS holds NNN_name.sql files in the tern format.
//
//go:embed *.sql
var FS embed.FS

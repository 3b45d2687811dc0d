package main

// commands is the command table: every `pgo` subcommand, in the order `pgo help`
// lists them. Each lives in its own file; adding one means one line here.
func commands() []*command {
	return []*command{
		serveCmd,
		workerCmd,
		migrateCmd,
		userCmd,
		dossierCmd,
		exportCmd,
		auditCmd,
		zalCmd,
		keysCmd,
		probeCmd,
		demoCmd,
		benchCmd,
		versionCmd,
	}
}

var keysCmd = &command{
	name:    "keys",
	summary: "Manage keys: development CA and certificates, encryption keysets, signing keys.",
	usage:   "SUBCOMMAND [flags]",
	subs:    []*command{keysDevCaCmd, keysInitCmd, keysRotateCmd, keysRewrapCmd, keysInfoCmd, keysSigningKeyCmd},
}

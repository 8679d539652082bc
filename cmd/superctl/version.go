package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionCommand is `superctl version`.
func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print superctl's version",
		Long: `Print superctl's version, the commit it was built from and the Go version,
as "superctl VERSION (COMMIT, GOVERSION)". It does not contact superd.`,
		Example: `  superctl version`,
		Args:    noArgs,
		RunE: runE(func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		}),
	}
}

// versionString reads the version from the build information: the module
// version ("(devel)" for a local build), the VCS revision (12 digits, with
// "-dirty" for a modified tree; "unknown" when not recorded) and the Go
// version.
func versionString() string {
	version, commit, goVersion := "(devel)", "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && commit != "unknown" {
			commit += "-dirty"
		}
	}
	return fmt.Sprintf("superctl %s (%s, %s)", version, commit, goVersion)
}

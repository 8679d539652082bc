package config

import "slices"

// What SPEC §2 defines but superd does not implement yet. Such keys are
// refused with "... is not supported yet", never accepted and ignored.
// When a feature lands, delete its entry here and add its key to
// superdFields or programFields.

// tableKind says which kind of table a key is in.
type tableKind int

const (
	kindSuperd   tableKind = iota // [superd]
	kindDefaults                  // [defaults]
	kindProgram                   // [program.NAME]
	kindJob                       // [job.NAME]
)

// keysNotSupportedYet returns the keys of a kind of table that are refused.
func keysNotSupportedYet(kind tableKind) []string {
	switch kind {
	case kindSuperd:
		return nil
	case kindDefaults, kindProgram, kindJob:
		return []string{"cgroup"}
	}
	return nil
}

// keyNotSupportedYet reports whether key is refused in a kind of table.
func keyNotSupportedYet(kind tableKind, key string) bool {
	return slices.Contains(keysNotSupportedYet(kind), key)
}

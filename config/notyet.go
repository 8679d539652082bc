package config

import "slices"

// What SPEC §2 defines but superd does not implement yet. Such keys, tables
// and values are refused with "... is not supported yet", never accepted
// and ignored. When a feature lands, delete its entry here and add its key
// to superdFields or programFields.

// tableKind says which kind of table a key is in.
type tableKind int

const (
	kindSuperd   tableKind = iota // [superd]
	kindDefaults                  // [defaults]
	kindProgram                   // [program.NAME]
)

// keysNotSupportedYet returns the keys of a kind of table that are refused.
func keysNotSupportedYet(kind tableKind) []string {
	switch kind {
	case kindSuperd:
		return nil
	case kindDefaults, kindProgram:
		return []string{"credentials", "pidfile", "detach", "cgroup"}
	}
	return nil
}

// keyNotSupportedYet reports whether key is refused in a kind of table.
func keyNotSupportedYet(kind tableKind, key string) bool {
	return slices.Contains(keysNotSupportedYet(kind), key)
}

// tableNotSupportedYet returns the message for a top-level table that is
// refused, or "".
func tableNotSupportedYet(name string) string {
	if name == "job" {
		return "jobs are not supported yet"
	}
	return ""
}

// valueNotSupportedYet reports whether value is refused for key.
func valueNotSupportedYet(key, value string) bool {
	switch key {
	case "stdout", "stderr":
		return value == "journal"
	case "type":
		return value == "forking"
	}
	return false
}

package config

import "reflect"

// A fields struct (superdFields, programFields, checkTable) is decoded by
// its struct tags: toml names a field's key, check the checks on its value,
// and for the one kind of table that alone takes it. Reading the tags by
// reflection is slow enough to dominate a Load of many programs when done
// for every key, so each type's tags are read once into a fieldIndex.
//
// The indexes are built once per Load, for the three types, into the
// fieldIndexes its decoders share, rather than in a package variable
// (STYLE 7). Building them costs a few microseconds a Load (three types of
// some 45 fields at most), against milliseconds saved. Nothing writes to
// them after, so the goroutines of one Load (checkTables) read them
// without a lock.

// fieldIndex is what the struct tags of one fields struct type say.
type fieldIndex struct {
	keys  []string         // every toml key, in field order
	field map[string]field // by toml key
}

// field is one field of a fields struct.
type field struct {
	index int          // in the struct
	typ   reflect.Type // what the field points to: *T gives T
	check string       // its check tag
	only  tableKind    // for:"program" gives kindProgram, for:"job" kindJob, else kindDefaults
}

// newFieldIndex reads the struct tags of rt, a fields struct type.
func newFieldIndex(rt reflect.Type) *fieldIndex {
	x := &fieldIndex{field: make(map[string]field, rt.NumField())}
	for i := range rt.NumField() {
		f := rt.Field(i)
		k := f.Tag.Get("toml")
		if k == "" {
			continue
		}
		only := kindDefaults
		switch f.Tag.Get("for") {
		case "program":
			only = kindProgram
		case "job":
			only = kindJob
		}
		x.keys = append(x.keys, k)
		x.field[k] = field{index: i, typ: f.Type.Elem(), check: f.Tag.Get("check"), only: only}
	}
	return x
}

// fieldIndexes holds the field index of each fields struct type, built
// up front; it is read only after.
type fieldIndexes map[reflect.Type]*fieldIndex

// newFieldIndexes returns the field indexes of every fields struct type.
func newFieldIndexes() fieldIndexes {
	xs := fieldIndexes{}
	for _, rt := range []reflect.Type{reflect.TypeFor[superdFields](), reflect.TypeFor[programFields](), reflect.TypeFor[checkTable]()} {
		xs[rt] = newFieldIndex(rt)
	}
	return xs
}

// of returns the field index of rt, a fields struct type.
func (xs fieldIndexes) of(rt reflect.Type) *fieldIndex {
	if x := xs[rt]; x != nil {
		return x
	}
	return newFieldIndex(rt) // a type newFieldIndexes missed: right, if slower
}

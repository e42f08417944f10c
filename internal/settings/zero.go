package settings

import "reflect"

// FillZero sets each zero field of the struct *dst to the same field of
// def: the "a zero field means its default" rule of the configuration
// structs that have no Table.
func FillZero[T any](dst *T, def T) {
	v, d := reflect.ValueOf(dst).Elem(), reflect.ValueOf(def)
	for i := range v.NumField() {
		if f := v.Field(i); f.IsZero() {
			f.Set(d.Field(i))
		}
	}
}

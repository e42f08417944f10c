package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goaleph/goaleph/message"
)

// ---- JSON output ----------------------------------------------------------

// jsonw builds a JSON document by hand, so that message contents are
// copied as stored (never decoded and re-encoded) and keys come in the
// reference node's order. Strings are escaped as Python's JSON encoders of
// the reference node do (no HTML escaping).
type jsonw struct{ bytes.Buffer }

// str writes a JSON string.
func (w *jsonw) str(s string) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			w.WriteString(s[start:i])
			switch c {
			case '"':
				w.WriteString(`\"`)
			case '\\':
				w.WriteString(`\\`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				fmt.Fprintf(w, `\u%04x`, c)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.WriteString(s[start:i])
			w.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}

// strOrNull writes s, or null when s is empty.
func (w *jsonw) strOrNull(s string) {
	if s == "" {
		w.WriteString("null")
		return
	}
	w.str(s)
}

// key writes `"k":`, preceded by a comma unless it opens an object.
func (w *jsonw) key(k string) {
	if b := w.Bytes(); len(b) > 0 && b[len(b)-1] != '{' {
		w.WriteByte(',')
	}
	w.str(k)
	w.WriteByte(':')
}

// strField writes the key k and the string v.
func (w *jsonw) strField(k, v string) {
	w.key(k)
	w.str(v)
}

// intField writes the key k and the integer n.
func (w *jsonw) intField(k string, n int64) {
	w.key(k)
	w.int(n)
}

// raw writes a stored JSON value as is (null when empty).
func (w *jsonw) raw(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		w.WriteString("null")
		return
	}
	w.Write(b)
}

// time writes an epoch time as a float, as the reference node does.
func (w *jsonw) time(t float64) { w.WriteString(message.FormatTime(t)) }

func (w *jsonw) int(n int64) { w.WriteString(strconv.FormatInt(n, 10)) }

func (w *jsonw) bool(b bool) { w.WriteString(strconv.FormatBool(b)) }

// value writes any Go value with encoding/json (no HTML escaping).
func (w *jsonw) value(v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.WriteString("null")
		return
	}
	w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// send writes the document with status code.
func (w *jsonw) send(rw http.ResponseWriter, code int) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.Header().Set("Content-Length", strconv.Itoa(w.Len()))
	rw.WriteHeader(code)
	rw.Write(w.Bytes())
}

// isoTime formats an epoch time at microsecond precision (the reference
// node stores timestamps with microseconds) as Python does: with "Z" like
// pydantic (zulu), else with "+00:00" like datetime.isoformat(); sep is
// 'T', or ' ' for str(datetime).
func isoTime(t float64, sep byte, zulu bool) string {
	us := int64(math.Round(t * 1e6))
	tm := time.UnixMicro(us).UTC()
	var b strings.Builder
	b.WriteString(tm.Format("2006-01-02"))
	b.WriteByte(sep)
	b.WriteString(tm.Format("15:04:05"))
	if frac := us % 1e6; frac != 0 {
		if frac < 0 {
			frac += 1e6
		}
		fmt.Fprintf(&b, ".%06d", frac)
	}
	if zulu {
		b.WriteByte('Z')
	} else {
		b.WriteString("+00:00")
	}
	return b.String()
}

// pydanticTime is how the reference node's response models write datetimes.
func pydanticTime(t float64) string { return isoTime(t, 'T', true) }

// The orders of the page-number fields of the lists: the reference node
// writes them differently per endpoint.
var (
	messagesPageOrder       = []string{"pagination_per_page", "pagination_page", "pagination_total", "pagination_item"}
	listPageOrder           = []string{"pagination_page", "pagination_total", "pagination_per_page", "pagination_item"}
	authorizationsPageOrder = []string{"pagination_page", "pagination_per_page", "pagination_total", "pagination_item"}
	filesPageOrder          = listPageOrder[:3] // no pagination_item
)

// pagination writes the page-number fields of a list, in order:
// pagination_page, pagination_per_page, pagination_total and
// pagination_item (item, the name of the list).
func (w *jsonw) pagination(order []string, page, perPage, total int, item string) {
	for _, k := range order {
		w.key(k)
		switch k {
		case "pagination_page":
			w.int(int64(page))
		case "pagination_per_page":
			w.int(int64(perPage))
		case "pagination_total":
			w.int(int64(total))
		case "pagination_item":
			w.str(item)
		default:
			panic("api: pagination key " + k + " has no writer")
		}
	}
}

// endListPage closes a list of the listPageOrder kind (posts,
// aggregates): the array, its cursor or page-number fields, the object;
// then sends it.
func (w *jsonw) endListPage(rw http.ResponseWriter, cursor bool, page, perPage, total int, next, item string) {
	w.WriteByte(']')
	if cursor {
		w.cursorPagination(perPage, next)
	} else {
		w.pagination(listPageOrder, page, perPage, total, item)
	}
	w.WriteByte('}')
	w.send(rw, http.StatusOK)
}

// cursorPagination writes the fields of a cursor-paginated list:
// pagination_per_page, has_more and next_cursor (null on the last page).
func (w *jsonw) cursorPagination(perPage int, next string) {
	w.key("pagination_per_page")
	w.int(int64(perPage))
	w.key("has_more")
	w.bool(next != "")
	w.key("next_cursor")
	w.strOrNull(next)
}

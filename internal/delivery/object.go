package delivery

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Object is the top level of a JSON object: its keys and the raw text of their values,
// pointing into the payload. Delivery shapes and every alert format's Match read it, so a
// document is scanned once however many formats are registered.
type Object []Field

// Field is one top-level member.
type Field struct {
	Key   []byte // raw, still quoted: compared without allocating
	Value []byte
}

// TopLevel scans a JSON object that Valid has accepted. It allocates only the slice of
// fields: keys and values point into b.
func TopLevel(b []byte) Object {
	o, _ := ObjectAt(b, skipSpace(b, 0))
	return o
}

// ObjectAt scans the object starting at b[i] as TopLevel does and returns the index just
// past it, so a walk through an array of objects reads each once, not once to find its
// end and again to scan it.
// A key given twice keeps its last value, as encoding/json does; a strict reader of a
// request checks the keys as written with Strict.
func ObjectAt(b []byte, i int) (Object, int) {
	if i >= len(b) || b[i] != '{' {
		return nil, i
	}
	o := make(Object, 0, 8)
	var index keyIndex
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return o, i
		}
		switch b[i] {
		case '}':
			return o, i + 1
		case ',':
			i++
			continue
		}
		end := ValueEnd(b, i)
		key := b[i:end]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return o, ValueEnd(b, i)
		}
		i = skipSpace(b, i+1)
		end = ValueEnd(b, i)
		o = o.add(key, b[i:end], &index)
		i = end
	}
}

// add adds a member, keeping one per key (see set). index is the object's key index, built
// once it has more than linearKeys members.
func (o Object) add(key, value []byte, index *keyIndex) Object {
	return o.set(plainKey(key), value, index)
}

// plainKey spells a raw key without escapes: a key written \u0040odata.type is still
// @odata.type, and stored so, Get compares bytes only. Rare, so the copy is too.
func plainKey(key []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 {
		return key
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // '<', '>' and '&' stay as they are, as Get's key does
	_ = enc.Encode(Unquote(key))
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// EachObject and Member walk valid JSON (Unwrap validated every payload) in place,
// without allocating: json.Unmarshal would validate and copy a large array or object again,
// and TopLevel allocates the slice of fields. Strings, most of the bytes, are skipped with
// bytes.IndexByte.

// EachObject calls fn with each element of a JSON array that is an object, in order;
// fn's first error stops the walk.
func EachObject(arr []byte, fn func(obj []byte) error) error {
	if len(arr) == 0 || arr[0] != '[' {
		return nil
	}
	for i := 1; i < len(arr); {
		switch arr[i] {
		case ']':
			return nil
		case ',', ' ', '\t', '\n', '\r':
			i++
			continue
		}
		end := ValueEnd(arr, i)
		if end <= i {
			return nil // not valid JSON: nothing more to find
		}
		if arr[i] == '{' {
			if err := fn(arr[i:end]); err != nil {
				return err
			}
		}
		i = end
	}
	return nil
}

// EachTopLevel calls fn with the scanned top level of each element of a JSON array that
// is an object, in order; fn's first error stops the walk. Each element is read once.
func EachTopLevel(arr []byte, fn func(obj Object) error) error {
	if len(arr) == 0 || arr[0] != '[' {
		return nil
	}
	for i := 1; i < len(arr); {
		switch arr[i] {
		case ']':
			return nil
		case ',', ' ', '\t', '\n', '\r':
			i++
			continue
		case '{':
			o, end := ObjectAt(arr, i)
			if err := fn(o); err != nil {
				return err
			}
			i = end
			continue
		}
		end := ValueEnd(arr, i)
		if end <= i {
			return nil // not valid JSON: nothing more to find
		}
		i = end
	}
	return nil
}

// Member returns the raw value of key in a JSON object, or nil. It stops at the key;
// a key spelled with escapes is not recognised.
func Member(obj []byte, key string) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	for i := 1; i < len(obj); {
		switch obj[i] {
		case '}':
			return nil
		case ',', ' ', '\t', '\n', '\r':
			i++
			continue
		}
		keyEnd := ValueEnd(obj, i)
		if keyEnd <= i {
			return nil
		}
		k := obj[i:keyEnd]
		i = keyEnd
		for i < len(obj) && (obj[i] == ':' || obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r') {
			i++
		}
		if i >= len(obj) {
			return nil
		}
		end := ValueEnd(obj, i)
		if end <= i {
			return nil
		}
		if len(k) == len(key)+2 && string(k[1:len(k)-1]) == key {
			return obj[i:end]
		}
		i = end
	}
	return nil
}

// ValueEnd returns the index just past the JSON value that starts at b[i].
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		return containerEnd(b, i)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i+1:], '"')
		if j < 0 {
			return len(b)
		}
		i += 1 + j
		escapes := 0
		for k := i - 1; b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return i + 1
		}
	}
}

// structural marks the bytes skipping a container stops at; a table lookup is one load
// where a switch is five compares, and most bytes between strings are none of them.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// containerEnd returns the index just past the object or array starting at b[i].
func containerEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		c := b[i]
		if !structural[c] {
			i++
			continue
		}
		switch c {
		case '"':
			i = stringEnd(b, i)
			continue
		case '{', '[':
			depth++
		default:
			if depth--; depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return len(b)
}

// Unquote returns a JSON string's value; it allocates only for strings with escapes.
func Unquote(v []byte) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return ""
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	s, ok := unescape(inner)
	if !ok {
		return ""
	}
	return s
}

// unescape decodes a JSON string's body as encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD) without validating the whole document again: a Sentinel
// Entities column is kilobytes of escaped JSON.
func unescape(b []byte) (string, bool) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\':
			if i+1 >= len(b) {
				return "", false
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(b, i+2); ok && i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c < 0x20 || c == '"':
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	return string(out), true
}

// hex4 reads the four hex digits of a \u escape starting at b[i].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, h := range b[i : i+4] {
		switch {
		case '0' <= h && h <= '9':
			h -= '0'
		case 'a' <= h && h <= 'f':
			h -= 'a' - 10
		case 'A' <= h && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

// linearKeys is how many members an object holds before set indexes their keys: a scan
// is cheaper than a map (whose keys would each be a string to allocate) for the members
// real objects have, a Graph alert about 35, but a scan per member would make a crafted
// object of 100,000 keys quadratic.
const linearKeys = 128

// keyIndex maps a raw key to its member's position.
type keyIndex map[string]int

// set adds a member; a duplicate key takes the later value, as encoding/json does, so
// Match (reading this) and a format's Extract (decoding) never see two values for one key.
func (o Object) set(key, value []byte, index *keyIndex) Object {
	if *index == nil && len(o) >= linearKeys {
		*index = make(keyIndex, 2*len(o))
		for i, f := range o {
			(*index)[string(f.Key)] = i
		}
	}
	if *index != nil {
		if i, ok := (*index)[string(key)]; ok {
			o[i].Value = value
			return o
		}
		(*index)[string(key)] = len(o)
		return append(o, Field{Key: key, Value: value})
	}
	for i := range o {
		if bytes.Equal(o[i].Key, key) {
			o[i].Value = value
			return o
		}
	}
	return append(o, Field{Key: key, Value: value})
}

// Get returns the raw value of key, or nil.
func (o Object) Get(key string) []byte {
	for i := range o {
		if k := o[i].Key; len(k) == len(key)+2 && string(k[1:len(k)-1]) == key {
			return o[i].Value
		}
	}
	return nil
}

// Has reports whether key is present.
func (o Object) Has(key string) bool { return o.Get(key) != nil }

// String returns key's value when it is a JSON string, else "".
func (o Object) String(key string) string { return Unquote(o.Get(key)) }

// IsArray reports whether key holds a JSON array.
func (o Object) IsArray(key string) bool {
	v := o.Get(key)
	return len(v) > 0 && v[0] == '['
}

// Keys lists the top-level keys, for error messages that must not echo values.
func (o Object) Keys() string {
	const most = 20
	var sb strings.Builder
	for i, f := range o {
		if i == most {
			sb.WriteString(" …")
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		k := Unquote(f.Key)
		if len(k) > 40 {
			k = k[:40] + "…"
		}
		sb.WriteString(strings.ToValidUTF8(strings.Map(printable, k), "?"))
	}
	return sb.String()
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return '?'
	}
	return r
}

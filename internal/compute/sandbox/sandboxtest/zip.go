package sandboxtest

import (
	"archive/zip"
	"bytes"
	"slices"
)

// Zip returns a zip archive of files (name → content), deflated, each
// with mode 0644 but the names in executable (0755).
func Zip(files map[string][]byte, executable ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if slices.Contains(executable, name) {
			h.SetMode(0o755)
		}
		add(zw, h, data)
	}
	return closed(zw, &b)
}

// ExecZip returns a zip holding prog as bin/server, stored and executable,
// and extra as extra.txt (making the archive distinct).
func ExecZip(prog []byte, extra string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	h := &zip.FileHeader{Name: "bin/server", Method: zip.Store}
	h.SetMode(0o755)
	add(zw, h, prog)
	add(zw, &zip.FileHeader{Name: "extra.txt", Method: zip.Deflate}, []byte(extra))
	return closed(zw, &b)
}

// add writes one entry; the archive is in memory, so only a bug fails.
func add(zw *zip.Writer, h *zip.FileHeader, data []byte) {
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(data)
	}
	if err != nil {
		panic("sandboxtest: in-memory zip: " + err.Error())
	}
}

func closed(zw *zip.Writer, b *bytes.Buffer) []byte {
	if err := zw.Close(); err != nil {
		panic("sandboxtest: in-memory zip: " + err.Error())
	}
	return b.Bytes()
}

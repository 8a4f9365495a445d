package input

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// unit is what Split counts and Read parses: one line (JSONL, text) or one
// CSV record, which may span lines. Split and Read run the same scanner over
// the same bytes, so they agree on every unit boundary.
type unit struct {
	start, end int64 // byte offsets in the stream
	line       int64 // line number of the first line
	lines      int
	blank      bool   // whitespace only: counted, never a record
	bad        string // why the scanner could not make a record of it
	data       []byte // content without the final newline; valid until the next call
}

type unitScanner interface {
	next() (unit, error)
}

func newUnitScanner(f Format, r io.Reader, max int, keep bool, off, firstLine int64) unitScanner {
	lr := newLineReader(r, max, keep || f == FormatCSV)
	if f == FormatCSV {
		return &csvUnits{lr: lr, max: max, off: off, lineNo: firstLine}
	}
	return &lineUnits{lr: lr, max: max, off: off, lineNo: firstLine}
}

func tooLongReason(max int) string { return fmt.Sprintf("line exceeds %d bytes", max) }

type lineUnits struct {
	lr     *lineReader
	max    int
	off    int64
	lineNo int64
}

func (s *lineUnits) next() (unit, error) {
	l, err := s.lr.next()
	if err != nil {
		return unit{}, err
	}
	u := unit{start: s.off, end: s.off + l.n, line: s.lineNo, lines: 1, blank: l.blank, data: l.data}
	s.off, s.lineNo = u.end, s.lineNo+1
	if l.tooLong && !l.blank {
		u.bad = tooLongReason(s.max)
	}
	return u, nil
}

// csvUnits finds CSV record boundaries with the quoting rules of
// encoding/csv. A record whose quoted field never closes (end of input, or
// more than max bytes) is a bad record of its first line alone; scanning then
// resumes at the line after it, so one stray quote cannot swallow the rest of
// a file.
type csvUnits struct {
	lr      *lineReader
	max     int
	off     int64
	lineNo  int64
	pending []line // lines read ahead, owned copies, rescanned first
}

func (s *csvUnits) readLine() (line, error) {
	if len(s.pending) > 0 {
		l := s.pending[0]
		s.pending = s.pending[1:]
		return l, nil
	}
	return s.lr.next()
}

func owned(l line) line {
	l.data = bytes.Clone(l.data)
	return l
}

func (s *csvUnits) next() (unit, error) {
	first, err := s.readLine()
	if err != nil {
		return unit{}, err
	}
	u := unit{start: s.off, line: s.lineNo, lines: 1, data: first.data}
	u.end = u.start + first.n
	switch {
	case first.blank:
		u.blank = true
	case first.tooLong:
		u.bad = tooLongReason(s.max)
	case csvContinues(first.data, false):
		return s.multiline(u, owned(first))
	}
	s.off, s.lineNo = u.end, s.lineNo+1
	return u, nil
}

func (s *csvUnits) multiline(u unit, first line) (unit, error) {
	var more []line
	size := len(first.data)
	for {
		l, err := s.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return unit{}, err
		}
		l = owned(l)
		more = append(more, l)
		size += 1 + len(l.data)
		if l.tooLong || size > s.max {
			break
		}
		if !csvContinues(l.data, true) {
			buf := make([]byte, 0, size)
			buf = append(buf, first.data...)
			for _, m := range more {
				buf = append(append(buf, '\n'), m.data...)
			}
			if csvCheck(buf) != nil {
				break
			}
			u.lines += len(more)
			u.data = buf
			u.end = u.start + first.n + sumN(more)
			s.off, s.lineNo = u.end, s.lineNo+int64(u.lines)
			return u, nil
		}
	}
	// Only the first line is given up: the lines after it are scanned again
	// as records of their own.
	s.pending = append(more, s.pending...)
	u.data = first.data
	u.end = u.start + first.n
	// One reason for every way a quoted field can fail to close, because
	// how far the scan looked ahead depends on where a range ends.
	u.bad = "invalid CSV: quoted field not closed"
	s.off, s.lineNo = u.end, s.lineNo+1
	return u, nil
}

// csvCheck parses a multi-line record the way Read will.
func csvCheck(data []byte) error {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	if _, err := cr.Read(); err != nil {
		return err
	}
	if _, err := cr.Read(); err != io.EOF {
		return errors.New("malformed record")
	}
	return nil
}

func sumN(ls []line) int64 {
	var n int64
	for _, l := range ls {
		n += l.n
	}
	return n
}

// csvContinues reports whether a quoted field is still open at the end of
// line, following encoding/csv (comma ',', no lazy quotes): a record ends at
// a newline outside quotes, and also at a line holding a quote error, since
// encoding/csv drops the rest of that line.
func csvContinues(line []byte, inQuote bool) bool {
	i := 0
	for {
		if !inQuote {
			if i < len(line) && line[i] == '"' {
				inQuote = true
				i++
			} else {
				j := bytes.IndexByte(line[i:], ',')
				field := line[i:]
				if j >= 0 {
					field = line[i : i+j]
				}
				if j < 0 || bytes.IndexByte(field, '"') >= 0 {
					return false
				}
				i += j + 1
				continue
			}
		}
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			return true
		}
		i += j + 1
		switch {
		case i < len(line) && line[i] == '"':
			i++
		case i < len(line) && line[i] == ',':
			i++
			inQuote = false
		default:
			return false
		}
	}
}

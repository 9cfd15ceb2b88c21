package alert

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

func recogniseFile(t testing.TB, name string) []Alert {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := delivery.Unwrap(payload)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := Recognise(b.Records[0])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return alerts
}

// recogniseInline runs one payload through delivery and recognition, as Handle does.
func recogniseInline(t testing.TB, payload string) ([]Alert, error) {
	t.Helper()
	b, err := delivery.Unwrap([]byte(payload))
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	return Recognise(b.Records[0])
}

func readEventFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchRecogniseEvent measures delivery.Unwrap plus Recognise on one fixture, and reports
// the cost per alert (the targets are under 50 µs and 100 allocations per alert).
func benchRecogniseEvent(b *testing.B, name string) {
	payload := readEventFixture(b, name)
	batch, err := delivery.Unwrap(payload)
	if err != nil {
		b.Fatal(err)
	}
	alerts, err := Recognise(batch.Records[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		batch, _ := delivery.Unwrap(payload)
		if _, err := Recognise(batch.Records[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(alerts)), "alerts/op")
}

// fuzzRecogniseEvents feeds arbitrary bytes, seeded with fixtures, through delivery and
// recognition: nothing may panic, every alert returned must say its format, and alerts
// come with an error only as the readable part of a list, beside an *ItemErrors naming
// at least one item.
func fuzzRecogniseEvents(f *testing.F, names ...string) {
	for _, name := range names {
		f.Add(readEventFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		batch, err := delivery.Unwrap(payload)
		if err != nil {
			return
		}
		for _, rec := range batch.Records {
			alerts, err := Recognise(rec)
			var items *ItemErrors
			if err != nil && len(alerts) > 0 && (!errors.As(err, &items) || len(items.Items) == 0) {
				t.Fatalf("alerts beside an error that is no list of unread items: %v", err)
			}
			for _, a := range alerts {
				if a.Format == "" {
					t.Fatalf("alert without a format: %+v", a)
				}
			}
		}
	})
}

// errorCase is a payload a format must refuse: the error names what is wrong (want) and
// never repeats the value "sekret" the payload carries.
type errorCase struct {
	payload string
	want    []string
}

func checkErrors(t *testing.T, cases map[string]errorCase) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := recogniseInline(t, c.payload)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "sekret") {
				t.Errorf("error %q echoes a value from the payload", err)
			}
		})
	}
}

// expectAlerts recognises payload and compares the alerts with want.
func expectAlerts(t *testing.T, payload string, want []Alert) {
	t.Helper()
	got, err := recogniseInline(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

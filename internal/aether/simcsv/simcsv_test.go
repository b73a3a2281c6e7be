package simcsv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

func reader(t *testing.T) *Reader {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(sch.Set("aether", "2.1.x"))
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func TestReadGoodRows(t *testing.T) {
	rd := reader(t)
	rd.Enterprise = "acme"
	rd.Unquote = func(s string) string { return strings.TrimPrefix(s, "'") }
	in := "\ufeffSite,sim-id,imsi,device-id,imei,device-group\n" +
		"s1,sim-1,'315010000000001,d1,490154203237518,cams\n" +
		"\n" +
		"s1,sim-2,315010000000002,,,\n"
	rows, err := rd.Read(strings.NewReader(in), "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rd.Rows != 2 {
		t.Fatalf("rows %d (counted %d): %+v", len(rows), rd.Rows, rows)
	}
	if r := rows[0]; r.Line != 2 || r.Enterprise != "acme" || r.IMSI != "315010000000001" || r.Group != "cams" {
		t.Fatalf("row 1: %+v", r)
	}
	if rows[1].Line != 4 {
		t.Fatalf("row 2 is on line %d", rows[1].Line)
	}
}

// Every bad row is reported, by line, and nothing is returned.
func TestReadReportsEveryBadRow(t *testing.T) {
	rd := reader(t)
	in := "enterprise,site,sim-id,imsi,device-id,device-group\n" +
		"acme,s1,sim-1,not-a-number,,\n" + // a type error
		"acme,s1,sim-2,315010000000002,,cams\n" + // a group without a device
		"acme,s1,sim-2,315010000000003,,\n" + // sim-2 again
		",s1,sim-4,,,\n" // no enterprise
	rows, err := rd.Read(strings.NewReader(in), "f.csv")
	var bad *RowsError
	if !errors.As(err, &bad) || rows != nil {
		t.Fatalf("want a RowsError and no rows, got %v, %d rows", err, len(rows))
	}
	if !strings.HasPrefix(bad.Msg, "f.csv: 4 bad rows") || len(bad.Lines) != 4 {
		t.Fatalf("%v", err)
	}
	for i, want := range []string{"line 2: imsi", "line 3: device-group given without device-id", `line 4: sim-id "sim-2" of site s1 is also on line 3`, "line 5: empty enterprise"} {
		if !strings.HasPrefix(bad.Lines[i], want) {
			t.Errorf("line %d of the report: %q, want %q…", i, bad.Lines[i], want)
		}
	}
}

func TestReadRefusesBadHeaders(t *testing.T) {
	for in, want := range map[string]string{
		"site,color\n":       `unknown column "color"`,
		"site,site\n":        `column "site" appears twice`,
		"sim-id\n":           "no site column",
		"site,imsi\n":        "needs a sim-id or device-id column",
		"site,sim-id\ns,x\n": "no enterprise column",
	} {
		if _, err := reader(t).Read(strings.NewReader(in), "f.csv"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// The body is one PATCH /aether-roc-api: per site its SIM cards, devices
// and group memberships, the enterprise in additionalProperties; a limit
// splits it between rows, losing none.
func TestEncode(t *testing.T) {
	e := &Encoder{Element: "site-2.1.0", GroupUnchanged: "display-name"}
	rows := []*Row{
		{Line: 2, Enterprise: "acme", Site: "s1", SimID: "sim-1", IMSI: "315010000000001", DeviceID: "d1", Group: "cams"},
		{Line: 3, Enterprise: "acme", Site: "s2", SimID: "sim-\"2\""},
	}
	var body struct {
		Updates map[string][]struct {
			SiteID string           `json:"site-id"`
			AP     map[string]any   `json:"additionalProperties"`
			Sims   []map[string]any `json:"sim-card"`
			Devs   []map[string]any `json:"device"`
			Groups []struct {
				ID     string           `json:"device-group-id"`
				AP     map[string]any   `json:"additionalProperties"`
				Device []map[string]any `json:"device"`
			} `json:"device-group"`
		}
	}
	if err := json.Unmarshal(e.Encode(rows), &body); err != nil {
		t.Fatal(err)
	}
	sites := body.Updates["site-2.1.0"]
	if len(sites) != 2 || sites[0].AP["enterprise-id"] != "acme" || sites[1].Sims[0]["sim-id"] != `sim-"2"` {
		t.Fatalf("%+v", sites)
	}
	if d := sites[0].Devs[0]; d["sim-card"] != "sim-1" || len(sites[0].Groups) != 1 || sites[0].Groups[0].AP["unchanged"] != "display-name" || sites[0].Groups[0].Device[0]["device-id"] != "d1" {
		t.Fatalf("site s1: %+v", sites[0])
	}
	bodies, parts := e.EncodeLimited(rows, int64(len(e.Encode(rows[:1]))+1))
	if len(bodies) != 2 || len(parts[0])+len(parts[1]) != 2 {
		t.Fatalf("split into %d bodies", len(bodies))
	}
}

package scenario

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
)

// WriteText renders a report for people: each file, PASS, FAIL or ERROR per run with the
// failures as file:line:col lines (and the log, verbose), then a summary line.
func WriteText(w io.Writer, rep *Report, files map[string]*hcl.File, verbose bool) {
	for _, f := range rep.Files {
		fmt.Fprintln(w, lang.EscapeControls(f.File))
		for _, r := range f.Runs {
			fmt.Fprintf(w, "  %-5s %s\n", strings.ToUpper(r.Status), lang.EscapeControls(r.Name))
			if verbose {
				for _, l := range r.Log {
					fmt.Fprintf(w, "        %s\n", lang.EscapeControls(l))
				}
			}
			for _, fl := range r.Failures {
				fmt.Fprintf(w, "        %s\n", lang.EscapeControls(fl.String()))
			}
			if len(r.Diagnostics) > 0 {
				var b strings.Builder
				lang.WriteDiagnostics(&b, files, r.Diagnostics, false)
				for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
					fmt.Fprintf(w, "        %s\n", l)
				}
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, rep.Summary())
}

// Summary is the report's last line: "PASS: 3 runs passed." or "FAIL: 1 of 3 runs failed.".
func (r *Report) Summary() string {
	total := r.Passed + r.Failed + r.Errored
	switch {
	case total == 0:
		return "No runs to run."
	case r.OK():
		return fmt.Sprintf("PASS: %s passed.", plural(total, "run"))
	}
	var bad []string
	if r.Failed > 0 {
		bad = append(bad, fmt.Sprintf("%d failed", r.Failed))
	}
	if r.Errored > 0 {
		bad = append(bad, fmt.Sprintf("%d in error", r.Errored))
	}
	return fmt.Sprintf("FAIL: %s, %d passed, %s.", plural(total, "run"), r.Passed, strings.Join(bad, ", "))
}

// JSONReport is the machine-readable report of `musubi test -json`.
type JSONReport struct {
	Passed  bool                  `json:"passed"`
	Summary JSONSummary           `json:"summary"`
	Files   []JSONFile            `json:"files"`
	Errors  []lang.JSONDiagnostic `json:"errors,omitempty"`
}

// JSONSummary counts the runs.
type JSONSummary struct {
	Runs   int `json:"runs"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Errors int `json:"errors"`
}

// JSONFile is one test file's runs.
type JSONFile struct {
	File string    `json:"file"`
	Runs []JSONRun `json:"runs"`
}

// JSONRun is one run.
type JSONRun struct {
	Name        string                `json:"name"`
	Status      string                `json:"status"`
	Line        int                   `json:"line"`
	Failures    []JSONFailure         `json:"failures"`
	Diagnostics []lang.JSONDiagnostic `json:"diagnostics,omitempty"`
	Log         []string              `json:"log,omitempty"`
}

// JSONFailure is an expectation not met, at its place.
type JSONFailure struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	What     string `json:"what"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Message  string `json:"message"`
}

// ToJSON is the report as `musubi test -json` prints it.
func (r *Report) ToJSON() JSONReport {
	out := JSONReport{Passed: r.OK(), Files: []JSONFile{},
		Summary: JSONSummary{Runs: r.Passed + r.Failed + r.Errored, Passed: r.Passed, Failed: r.Failed, Errors: r.Errored}}
	for _, f := range r.Files {
		jf := JSONFile{File: f.File, Runs: []JSONRun{}}
		for _, run := range f.Runs {
			jr := JSONRun{Name: run.Name, Status: run.Status, Line: run.Range.Start.Line, Failures: []JSONFailure{}, Log: run.Log}
			for _, fl := range run.Failures {
				jr.Failures = append(jr.Failures, JSONFailure{File: fl.Range.Filename, Line: fl.Range.Start.Line, Column: fl.Range.Start.Column,
					What: fl.What, Expected: fl.Expected, Got: fl.Got, Message: fl.String()})
			}
			if len(run.Diagnostics) > 0 {
				jr.Diagnostics = lang.ToJSONDiagnostics(run.Diagnostics)
			}
			jf.Runs = append(jf.Runs, jr)
		}
		out.Files = append(out.Files, jf)
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, rep JSONReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML, one testsuite per file and one testcase per run,
// for CI systems that show test results.
func WriteJUnit(w io.Writer, rep *Report) error {
	out := junitSuites{Name: "musubi test", Tests: rep.Passed + rep.Failed + rep.Errored, Failures: rep.Failed, Errors: rep.Errored}
	for _, f := range rep.Files {
		s := junitSuite{Name: f.File, Tests: len(f.Runs)}
		var total float64
		for _, r := range f.Runs {
			secs := r.Duration.Seconds()
			total += secs
			c := junitCase{Name: r.Name, Classname: f.File, Time: fmt.Sprintf("%.3f", secs)}
			switch r.Status {
			case StatusFail:
				s.Failures++
				var lines []string
				for _, fl := range r.Failures {
					lines = append(lines, fl.String())
				}
				c.Failure = &junitProblem{Message: r.Failures[0].String(), Type: "expectation", Text: strings.Join(lines, "\n")}
			case StatusError:
				s.Errors++
				var b strings.Builder
				lang.WriteDiagnostics(&b, nil, r.Diagnostics, false)
				c.Error = &junitProblem{Message: r.Diagnostics[0].Summary, Type: "error", Text: b.String()}
			}
			s.Cases = append(s.Cases, c)
		}
		s.Time = fmt.Sprintf("%.3f", total)
		out.Suites = append(out.Suites, s)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return err
}

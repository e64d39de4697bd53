package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// The CI recipes of docs/ci.md are files in examples/ci; these tests keep them working.
const (
	githubWorkflow = "../../examples/ci/github/musubi.yml"
	actionlintConf = "../../examples/ci/github/actionlint.yaml"
	gitlabPipeline = "../../examples/ci/gitlab/.gitlab-ci.yml"
	planMarker     = "<!-- musubi-plan: production -->"
)

// The GitHub workflow passes actionlint: its syntax, expressions, job needs, action inputs
// and, when shellcheck is installed, its scripts.
func TestGitHubWorkflowLints(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	opts := &actionlint.LinterOptions{ConfigFile: actionlintConf}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck is not installed: the workflow's scripts are not checked")
	}
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(githubWorkflow, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", githubWorkflow, e.Line, e.Column, e.Message, e.Kind)
	}
}

// The GitHub workflow does what docs/ci.md says: on a pull request it validates, tests, plans
// and updates one comment; on a push to main it plans, saves the plan and applies exactly
// that plan, one apply at a time.
func TestGitHubWorkflowShape(t *testing.T) {
	t.Parallel()
	var wf struct {
		On   map[string]struct{ Branches []string } `yaml:"on"`
		Jobs map[string]struct {
			If          string `yaml:"if"`
			Needs       any    `yaml:"needs"`
			Environment string `yaml:"environment"`
			Concurrency struct {
				Group            string `yaml:"group"`
				CancelInProgress bool   `yaml:"cancel-in-progress"`
			} `yaml:"concurrency"`
			Steps []struct {
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	readYAML(t, githubWorkflow, &wf)
	for _, ev := range []string{"pull_request", "push"} {
		if !slices.Contains(wf.On[ev].Branches, "main") {
			t.Errorf("the workflow does not run on %s to main", ev)
		}
	}
	script := func(job string) string {
		var b strings.Builder
		for _, s := range wf.Jobs[job].Steps {
			b.WriteString(s.Run + "\n" + s.With["script"] + "\n")
		}
		return b.String()
	}
	pr := script("pull-request")
	if !strings.Contains(wf.Jobs["pull-request"].If, "pull_request") {
		t.Error("the pull-request job does not run only on pull requests")
	}
	for _, want := range []string{"musubi validate", "musubi test", "-out musubi.plan", "-markdown > plan.md", planMarker, "updateComment", "createComment"} {
		if !strings.Contains(pr, want) {
			t.Errorf("the pull-request job has no %q", want)
		}
	}
	apply := wf.Jobs["apply"]
	if apply.Needs != "plan" || apply.Environment != "production" {
		t.Errorf("the apply job needs %v in environment %q; want the plan job, in production", apply.Needs, apply.Environment)
	}
	if g := wf.Jobs["plan"].Concurrency; g.Group == "" || g.Group != apply.Concurrency.Group || g.CancelInProgress || apply.Concurrency.CancelInProgress {
		t.Error("plan and apply on main do not share one concurrency group that waits instead of cancelling")
	}
	if !regexp.MustCompile(`musubi apply -lock-timeout \S+ .*musubi\.plan`).MatchString(script("apply")) {
		t.Error("the apply job does not apply the saved plan, waiting for the state lock")
	}
	if !strings.Contains(script("plan"), "-out musubi.plan") {
		t.Error("the plan job does not save the plan")
	}
}

// The GitLab pipeline parses, every job runs in a declared stage under rules, merge
// requests get validate, test and one updated plan note, and the default branch applies
// the saved plan by hand, one at a time.
func TestGitLabPipelineShape(t *testing.T) {
	t.Parallel()
	var doc map[string]yaml.Node
	readYAML(t, gitlabPipeline, &doc)
	type job struct {
		Stage string `yaml:"stage"`
		Rules []struct {
			If   string `yaml:"if"`
			When string `yaml:"when"`
		} `yaml:"rules"`
		Needs         []string `yaml:"needs"`
		ResourceGroup string   `yaml:"resource_group"`
		Script        []string `yaml:"script"`
		Artifacts     struct {
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
		Environment struct {
			Name string `yaml:"name"`
		} `yaml:"environment"`
	}
	var stages []string
	if n, ok := doc["stages"]; !ok || n.Decode(&stages) != nil {
		t.Fatal("the pipeline declares no stages")
	}
	reserved := map[string]bool{"stages": true, "variables": true, "default": true, "include": true, "workflow": true}
	jobs := map[string]job{}
	for name, n := range doc {
		if reserved[name] || strings.HasPrefix(name, ".") {
			continue
		}
		var j job
		if err := n.Decode(&j); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
		if !slices.Contains(stages, j.Stage) {
			t.Errorf("job %s runs in stage %q, which is not one of %v", name, j.Stage, stages)
		}
		if len(j.Rules) == 0 {
			t.Errorf("job %s has no rules: it would run in every pipeline", name)
		}
		if len(j.Script) == 0 {
			t.Errorf("job %s has no script", name)
		}
		for _, need := range j.Needs {
			if _, ok := doc[need]; !ok {
				t.Errorf("job %s needs %s, which is not a job", name, need)
			}
		}
		jobs[name] = j
	}
	onMR := func(j job) bool {
		return len(j.Rules) > 0 && strings.Contains(j.Rules[0].If, `$CI_PIPELINE_SOURCE == "merge_request_event"`)
	}
	onDefault := func(j job) bool {
		return len(j.Rules) > 0 && strings.Contains(j.Rules[0].If, "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH")
	}
	all := func(j job) string { return strings.Join(j.Script, "\n") }

	if v := jobs["validate"]; !onMR(v) || !strings.Contains(all(v), "musubi validate") || !strings.Contains(all(v), "musubi test") {
		t.Error("merge requests do not run musubi validate and musubi test")
	}
	mr := jobs["plan:merge-request"]
	if !onMR(mr) {
		t.Error("plan:merge-request does not run on merge requests")
	}
	for _, want := range []string{"-out musubi.plan", "-markdown > plan.md", planMarker, "--request PUT", "--request POST", `exit "$status"`} {
		if !strings.Contains(all(mr), want) {
			t.Errorf("plan:merge-request has no %q", want)
		}
	}
	rel, apply := jobs["plan:release"], jobs["apply"]
	if !onDefault(rel) || !slices.Contains(rel.Artifacts.Paths, "musubi.plan") {
		t.Error("plan:release does not save the plan on the default branch")
	}
	if !onDefault(apply) || apply.Rules[0].When != "manual" || !slices.Equal(apply.Needs, []string{"plan:release"}) {
		t.Error("apply is not a manual job of the default branch after plan:release")
	}
	if apply.ResourceGroup == "" || apply.ResourceGroup != rel.ResourceGroup || apply.Environment.Name != "production" {
		t.Error("plan:release and apply do not share a resource group, in the production environment")
	}
	if !regexp.MustCompile(`musubi apply -lock-timeout \S+ .*musubi\.plan`).MatchString(all(apply)) {
		t.Error("apply does not apply the saved plan, waiting for the state lock")
	}
}

// Every musubi command line of the recipes parses with musubi's own commands and flags, so
// a renamed flag cannot leave them broken.
func TestCIRecipesUseRealFlags(t *testing.T) {
	t.Parallel()
	root := (&app{streams: streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard}}).rootCommand()
	for _, file := range []string{githubWorkflow, gitlabPipeline} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := musubiCommands(string(b))
		if len(lines) < 4 {
			t.Fatalf("%s: found only %d musubi commands", file, len(lines))
		}
		for _, args := range lines {
			line := "musubi " + strings.Join(args, " ")
			cmd, rest, err := root.Find(terraformArgs(root, args))
			if err != nil || cmd == root {
				if args[0] == "test" {
					t.Logf("%s: %s: the test command is not in this build", file, line)
					continue
				}
				t.Errorf("%s: %s: no such command", file, line)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %s: %v", file, line, err)
				continue
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("%s: %s: %v", file, line, err)
			}
		}
	}
}

var (
	musubiCall = regexp.MustCompile(`(?:^|[;&|]\s*|^\s*-\s+)musubi\s+([^|;&>]*)`)
	shellWord  = regexp.MustCompile(`'[^']*'|"[^"]*"|\S+`)
)

// musubiCommands finds the arguments of every musubi command in a CI file's scripts.
func musubiCommands(src string) [][]string {
	var out [][]string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, m := range musubiCall.FindAllStringSubmatch(line, -1) {
			var args []string
			for _, w := range shellWord.FindAllString(m[1], -1) {
				args = append(args, strings.Trim(w, `'"`))
			}
			if len(args) > 0 {
				out = append(out, args)
			}
		}
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

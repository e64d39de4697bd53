package planner

import (
	"github.com/go-git/go-git/v5"
	"github.com/musubi-hq/musubi/planner/states"
)

// GitInfo reads the commit, branch and author of the repository containing dir, and whether
// its working tree has uncommitted changes. It returns nil outside a repository.
func GitInfo(dir string) *states.GitInfo {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil
	}
	head, err := repo.Head()
	if err != nil {
		return nil
	}
	info := &states.GitInfo{Commit: head.Hash().String()}
	if head.Name().IsBranch() {
		info.Branch = head.Name().Short()
	}
	if c, err := repo.CommitObject(head.Hash()); err == nil {
		info.Author = c.Author.Name + " <" + c.Author.Email + ">"
	}
	if wt, err := repo.Worktree(); err == nil {
		if st, err := wt.Status(); err == nil {
			info.Dirty = !st.IsClean()
		}
	}
	return info
}

"""The provider simulator: GitHub, GitLab and Bitbucket Cloud REST subsets on one local port."""

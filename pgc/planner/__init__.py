"""Helpers of the optimizing planner (`place ... on auto`, `schedule skippipe`).

`costs` turns a Program into dense arrays (compute per segment and worker, message times);
`fastsim` is the planner's own event simulator used to judge many candidates quickly;
`graphs` holds the combinatorial pieces (clustering, bottleneck matching, open TSP);
`search` holds the shared budget / progress / notes bookkeeping.
"""

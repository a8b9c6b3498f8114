"""Building and choosing the model: feature recipes, the zoo, cross-validation, the
leaderboard, the search and its selection rules, ensembling, where trials run, and the budget."""

"""评议活动 (campaigns) and how they reach people: set-up, finding campaigns, QR codes and posters,
invited panels, the window desk's single-use codes, and where responses came from."""

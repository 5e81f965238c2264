"""What a grading run leaves for the instructor: grades.csv and its rows (``grades``), the
summary table (``summary``), the class report, the copy detection, the feedback pages'
sanitising."""

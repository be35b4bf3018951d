"""The app's screens: the live workbench, and the replay of a recording. Both show a run the same way
(base.RunScreen with its RunView); they differ in where events come from and which keys they take."""

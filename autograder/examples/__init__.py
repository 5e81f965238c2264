"""Example submissions: who the sample students are (``students/``), the vocabulary
they are written in (``spec.py``) and the builder that turns them into a submitted/
folder from the current notebooks (``build.py``)."""

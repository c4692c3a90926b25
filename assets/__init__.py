"""The files that ship with vizlab (data, fonts, images; provenance in README.md here).

In the repository this folder is assets/; installed, it is the package ``engine._assets``
(pyproject maps one onto the other), so ``engine._paths`` finds it the same way in an
editable install and in an installed wheel.
"""

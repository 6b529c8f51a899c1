"""Programs that run inside the sandbox: ``server.py`` (the candidate side) and ``checker.py``
(the test runner). Their *source* is shipped into the sandbox after ``values.py``; the host
never imports them at run time.
"""

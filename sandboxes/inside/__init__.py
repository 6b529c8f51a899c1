"""Programs that run inside the sandbox: ``supervisor.py`` (the fork server, both sandboxes) and
``local_boot.py`` (the local sandbox's namespace set-up, appended to it). Their *source* is
shipped to a fresh interpreter in the sandbox; the host never imports them at run time.
"""

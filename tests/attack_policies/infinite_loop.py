"""An infinite loop that swallows every interruption (a bare ``except``, which also catches the
timer's exception), so an in-process timer alone cannot stop it."""


def policy(state, agent_id):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722 - the point
            pass

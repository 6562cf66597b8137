"""Workflows (issue 17): workflows, the event types they apply to, their ordered actions, their runs (one per
firing, unique per workflow, booking and due key) with one result row per action, and the numbers that texted
STOP."""
import peewee

from app.models.base import UTCDateTimeField


def upgrade(database: peewee.Database) -> None:
    class Base(peewee.Model):
        id = peewee.CharField(primary_key=True, max_length=32)

        class Meta:
            legacy_table_names = False

    class User(Base):
        class Meta:
            table_name = "users"

    class EventType(Base):
        class Meta:
            table_name = "event_types"

    class Booking(Base):
        class Meta:
            table_name = "bookings"

    class Workflow(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(max_length=100)
        trigger = peewee.CharField(max_length=30)
        offset_minutes = peewee.IntegerField(default=0)
        all_event_types = peewee.BooleanField(default=True)
        enabled = peewee.BooleanField(default=False)
        enabled_at = UTCDateTimeField(null=True)
        paused_note = peewee.TextField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "workflows"
            indexes = ((("user", "created_at"), False),)

    class WorkflowEventType(Base):
        workflow = peewee.ForeignKeyField(Workflow, on_delete="CASCADE")
        event_type = peewee.ForeignKeyField(EventType, on_delete="CASCADE")

        class Meta:
            table_name = "workflow_event_types"
            indexes = ((("workflow", "event_type"), True),)

    class WorkflowAction(Base):
        workflow = peewee.ForeignKeyField(Workflow, on_delete="CASCADE")
        position = peewee.IntegerField(default=0)
        kind = peewee.CharField(max_length=20)
        config = peewee.TextField()
        secret = peewee.TextField(null=True)
        disabled_reason = peewee.TextField(null=True)
        busy_since = UTCDateTimeField(null=True)
        busy_until = UTCDateTimeField(null=True)
        timeout_streak = peewee.IntegerField(default=0)
        paused_until = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

        class Meta:
            table_name = "workflow_actions"
            indexes = ((("workflow", "position"), False),)

    class WorkflowRun(Base):
        workflow = peewee.ForeignKeyField(Workflow, on_delete="CASCADE")
        booking = peewee.ForeignKeyField(Booking, on_delete="CASCADE")
        due_key = peewee.CharField(max_length=80)
        due_at = UTCDateTimeField()
        status = peewee.CharField(max_length=16, default="scheduled")
        fired_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

        class Meta:
            table_name = "workflow_runs"
            indexes = ((("workflow", "booking", "due_key"), True), (("status", "due_at"), False),
                       (("booking",), False))

    class WorkflowRunAction(Base):
        run = peewee.ForeignKeyField(WorkflowRun, on_delete="CASCADE")
        action = peewee.ForeignKeyField(WorkflowAction, null=True, on_delete="SET NULL")
        kind = peewee.CharField(max_length=20)
        status = peewee.CharField(max_length=16, default="queued")
        error = peewee.TextField(null=True)
        remote_id = peewee.CharField(max_length=255, null=True)
        attempts = peewee.IntegerField(default=0)
        created_at = UTCDateTimeField()
        finished_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "workflow_run_actions"
            indexes = ((("run", "action"), True), (("remote_id",), False))

    class SmsOptOut(Base):
        phone = peewee.CharField(max_length=20, unique=True)
        opted_out_at = UTCDateTimeField()

        class Meta:
            table_name = "sms_opt_outs"

    models = [User, EventType, Booking, Workflow, WorkflowEventType, WorkflowAction, WorkflowRun, WorkflowRunAction,
              SmsOptOut]
    with database.bind_ctx(models):
        database.create_tables(models[3:])
